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
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bot.clients.slack_web import SlackWebTransport
from bot.config import Settings
from bot.errors import ConfigError
from bot.fleet.leading import while_leading
from bot.store.migrate import upgrade
from bot.web import (
    api_routes,
    health_routes,
    intake_routes,
    lineage_routes,
    registry_routes,
    report_routes,
)
from bot.web.slack_guard import install_slack_guard
from bot.web.webhook_fast_path import install_webhook_fast_path
from bot.wiring import heap
from bot.wiring.runtime import background_loops, build_runtime
from bot.wiring.warm_up import warm_up

log = logging.getLogger(__name__)


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


def build_app(settings: Settings, *, migrate: bool = True, settle_heap: bool = False) -> FastAPI:
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
        # After ready, in the background: what a first chart would otherwise load.
        tasks.append(asyncio.create_task(warm_up(rt, stop, settle_heap), name="warm-up"))
        socket_handler = None
        if settings.socket_mode and bolt_app is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            socket_handler = AsyncSocketModeHandler(
                bolt_app, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack: connected in Socket Mode")
        if settle_heap:  # opsbot serve: see bot.wiring.heap
            heap.settle()
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
            await rt.transport.aclose()
            for close in rt.closers:
                close()
            rt.fleet.close()  # last: until now another replica must not adopt our runs
            rt.engine.dispose()

    app = FastAPI(title="opsbot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = rt
    install_slack_guard(app, settings, rt.metrics)  # body cap + signature before Bolt
    install_webhook_fast_path(app, rt)  # the webhooks' POSTs, past FastAPI's routing
    app.include_router(health_routes.make_router(rt))
    app.include_router(intake_routes.make_router(rt))
    app.include_router(api_routes.make_router(rt))
    app.include_router(lineage_routes.make_router(rt))
    app.include_router(registry_routes.make_router(rt))
    app.include_router(report_routes.make_router(rt))

    bolt_app = None
    if isinstance(rt.transport, SlackWebTransport):
        from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

        from bot.chat.slack.app import build_bolt_app

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
