"""Builds the ASGI app from settings. Nothing happens on import.

POST /slack/events            Bolt (HTTP mode; Socket Mode connects out instead)
POST /webhooks/alertmanager   alerts in (bearer token)
POST /webhooks/pagerduty      PagerDuty v3 webhooks in (HMAC signature)
GET  /api/v1/incidents[/{id}]  JSON read API (bearer OPSBOT_API_TOKEN)
GET  /api/v1/report?since=   reliability KPIs (bearer OPSBOT_API_TOKEN)
GET  /healthz /readyz /metrics

Every replica serves HTTP; each background loop runs only on the replica leading its kind of
work (``bot.fleet``), and SIGTERM drains (``bot.fleet.drain``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bot.catalog.load import load_catalog
from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.config import Settings
from bot.enrich.runner import Clients, Enricher
from bot.enrich.worker import EnrichmentWorker
from bot.errors import ConfigError
from bot.fleet.coordinator import coordinator_for
from bot.fleet.leading import while_leading
from bot.intake.pressure import IntakePressure
from bot.jobs.ledger import JobLedger
from bot.jobs.tracker import JobTracker
from bot.logs import set_replica
from bot.metrics import Metrics
from bot.outbox.console_transport import ConsoleTransport
from bot.outbox.sender import OutboxSender
from bot.outbox.transport import ChatTransport
from bot.runner.takeover import Takeover
from bot.runner.wiring import action_clients, build_ops, playbook_offer, ray_client
from bot.runtime import Runtime
from bot.store.engine import make_engine
from bot.store.migrate import upgrade
from bot.summary.worker import SummaryWorker
from bot.telemetry.reader import StateReader
from bot.web import api_routes, health_routes, intake_routes, lineage_routes, report_routes
from bot.web.slack_guard import install_slack_guard

log = logging.getLogger(__name__)

ENRICH_THREADS = 8  # worker threads for enrichment sources (K8s, Prometheus, lineage reads)


def build_runtime(settings: Settings) -> Runtime:
    metrics = Metrics()
    engine = make_engine(settings.database_url)
    fleet = coordinator_for(settings.database_url, engine)
    set_replica(fleet.replica)
    transport: ChatTransport
    if settings.slack_bot_token is not None:
        client = make_web_client(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            settings.slack_timeout_s,
        )
        transport = SlackWebTransport(client, metrics)
    else:
        transport = ConsoleTransport()
    sender = OutboxSender(
        engine,
        transport,
        metrics,
        channel_rate=settings.slack_channel_rate,
        channel_burst=settings.slack_channel_burst,
    )
    catalog = load_catalog(settings.services_file)
    pressure = IntakePressure()
    enricher = Enricher(
        engine,
        catalog,
        enrichment_clients(settings),
        timeout_s=settings.enrich_timeout_s,
        lookback=timedelta(minutes=settings.enrich_lookback_min),
        metrics_window=timedelta(minutes=settings.metrics_window_min),
        limiter=anyio.CapacityLimiter(ENRICH_THREADS),
    )
    ray = ray_client(settings)
    clients = action_clients(settings, ray)
    ops, close_ops = build_ops(settings, engine, catalog, clients, replica=fleet.replica)
    tracker = JobTracker(JobLedger(engine), ray, on_change=sender.wake)
    enricher.offer = playbook_offer(ops.playbooks)
    llm = None
    if settings.openai_api_key is not None:
        from bot.clients.llm import llm_from_settings  # the openai package: ~1 s to import

        llm = llm_from_settings(settings)
    prom = reader_prom(settings)
    summaries = SummaryWorker(
        engine,
        catalog,
        on_saved=sender.wake,
        llm=llm,
        prom=prom,
        token_budget=settings.llm_token_budget,
    )
    state = StateReader(
        engine,
        metrics,
        # Only the replica following the jobs reports how far behind it is.
        job_tracker_lag=lambda: tracker.lag_s() if "jobs" in fleet.leading() else None,
    )
    closers = [close_ops, state.close]
    if llm is not None:
        closers.append(llm.close)
    enrichment = EnrichmentWorker(enricher, sender.wake, metrics=metrics, pressure=pressure)
    # Rows committed here wake the leader of their kind, on this replica or another.
    sender.announce = lambda: fleet.notify("outbox")
    enrichment.announce = lambda: fleet.notify("enrich")
    fleet.on_wake("outbox", sender.wake_here)
    fleet.on_wake("enrich", enrichment.poke)
    return Runtime(
        settings=settings,
        engine=engine,
        metrics=metrics,
        transport=transport,
        sender=sender,
        db_limiter=anyio.CapacityLimiter(settings.db_concurrency),
        catalog=catalog,
        enrichment=enrichment,
        pressure=pressure,
        fleet=fleet,
        ops=ops,
        jobs=tracker,
        summaries=summaries,
        llm=llm,
        prom=prom,
        state=state,
        closers=closers,
    )


def reader_prom(settings: Settings) -> Any:
    """The Prometheus client summaries and triage read through (a longer timeout than
    enrichment's, off the alert's hot path), or None."""
    from bot.clients.prometheus import PromClient

    if not settings.prometheus_url:
        return None
    return PromClient(settings.prometheus_url, timeout_s=max(settings.enrich_timeout_s, 5.0))


def enrichment_clients(settings: Settings) -> Clients:
    """The Kubernetes and Prometheus clients enrichment reads through, where configured."""
    from bot.clients.kubernetes import KubeClient
    from bot.clients.prometheus import PromClient

    timeout = settings.enrich_timeout_s
    kube: KubeClient | None
    if settings.kubeconfig is not None:
        kube = KubeClient.from_kubeconfig(str(settings.kubeconfig), timeout_s=timeout)
    else:
        kube = KubeClient.from_environment(timeout_s=timeout)
    prom = (
        PromClient(settings.prometheus_url, timeout_s=timeout) if settings.prometheus_url else None
    )
    return Clients(kube=kube, prom=prom)


def background_loops(rt: Runtime) -> dict[str, Callable[[asyncio.Event], Awaitable[None]]]:
    """Each kind of background work and its loop; one replica of the fleet runs each."""
    takeover = Takeover(rt.ops.executor, rt.ops.runner, rt.fleet.is_alive)
    return {
        "outbox": rt.sender.run,
        "enrich": rt.enrichment.run,
        # Ray jobs opsbot launched, followed to their end (reattached after a restart).
        "jobs": rt.jobs.run,
        # Post-incident summaries: the template at once, the LLM's version when ready.
        "summaries": rt.summaries.run,
        # Actions and playbook runs a dead replica (or a crash) left behind continue here.
        "runs": takeover.run,
    }


def check_settings(settings: Settings) -> None:
    """Refuse combinations that cannot work, with the variable to set; warn about gaps."""
    if settings.slack_enabled and not settings.socket_mode and not settings.slack_signing_secret:
        raise ConfigError(
            "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: HTTP mode needs the signing "
            "secret to verify Slack's requests (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    if settings.slack_enabled and not settings.incident_channel:
        raise ConfigError("Slack is configured but OPSBOT_INCIDENT_CHANNEL (a channel ID) is not")
    if settings.alertmanager_token is None:
        log.warning("OPSBOT_ALERTMANAGER_TOKEN is not set: every Alertmanager webhook is refused")


def build_app(settings: Settings, *, migrate: bool = True) -> FastAPI:
    check_settings(settings)
    rt = build_runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await anyio.to_thread.run_sync(upgrade, settings.database_url)
        rt.fleet.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def begin_drain() -> None:
            """SIGTERM (from a signal handler): not ready, and hand background work over."""
            rt.draining = True
            loop.call_soon_threadsafe(stop.set)

        app.state.begin_drain = begin_drain
        tasks = [
            asyncio.create_task(while_leading(rt.fleet, kind, body, stop), name=kind)
            for kind, body in background_loops(rt).items()
        ]
        socket_handler = None
        if settings.socket_mode and bolt_app is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            socket_handler = AsyncSocketModeHandler(
                bolt_app, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack: connected in Socket Mode")
        log.info("opsbot ready (transport=%s)", rt.transport.name)
        try:
            yield
        finally:
            rt.draining = True
            stop.set()
            if socket_handler is not None:
                await socket_handler.close_async()  # type: ignore[no-untyped-call]
            _finished, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                task.cancel()
            client = getattr(rt.transport, "client", None)
            session = getattr(client, "session", None)
            if session is not None:
                await session.close()
            for close in rt.closers:
                close()
            rt.fleet.close()  # last: until now another replica must not adopt our runs
            rt.engine.dispose()

    app = FastAPI(title="opsbot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = rt
    install_slack_guard(app, settings, rt.metrics)  # body cap + signature before Bolt
    app.include_router(health_routes.make_router(rt))
    app.include_router(intake_routes.make_router(rt))
    app.include_router(api_routes.make_router(rt))
    app.include_router(lineage_routes.make_router(rt))
    app.include_router(report_routes.make_router(rt))

    bolt_app = None
    if isinstance(rt.transport, SlackWebTransport):
        from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

        from bot.chat.slack_app import build_bolt_app

        bolt_app = build_bolt_app(rt, rt.transport.client)
        handler = AsyncSlackRequestHandler(bolt_app)

        @app.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            if settings.socket_mode:
                return JSONResponse({"error": "this opsbot uses Socket Mode"}, status_code=404)
            response: Response = await handler.handle(request)
            return response
    else:

        @app.post("/slack/events")
        async def slack_not_configured() -> JSONResponse:
            return JSONResponse(
                {"error": "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"},
                status_code=404,
            )

    return app
