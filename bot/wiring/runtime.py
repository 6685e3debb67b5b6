"""A serving process: the core, plus the chat transport, the outbox, enrichment, the Ray job
tracker, summaries, and the background loops the fleet hands out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio

from bot.clients.mlflow_registry import MlflowRegistryClient
from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.config import Settings
from bot.enrich.runner import Enricher
from bot.enrich.worker import EnrichmentWorker
from bot.home.refresh import Homes
from bot.incidents.freshness_loop import FreshnessLoop
from bot.incidents.freshness_watch import watched
from bot.incidents.reminders import Reminders
from bot.intake.pressure import IntakePressure
from bot.jobs.ledger import JobLedger
from bot.jobs.tracker import JobTracker
from bot.metrics import Metrics
from bot.outbox.console_transport import ConsoleTransport
from bot.outbox.kinds.base import Look
from bot.outbox.sender import OutboxSender
from bot.outbox.storm import StormPolicy
from bot.outbox.transport import ChatTransport
from bot.registry.poller import RegistryPoller
from bot.runner.takeover import Takeover
from bot.runtime import Runtime
from bot.store.group_commit import GroupCommitter
from bot.summary.worker import SummaryWorker
from bot.telemetry.reader import StateReader
from bot.wiring.clients import READER_MIN_TIMEOUT_S, llm_client
from bot.wiring.core import build_core
from bot.wiring.ops import playbook_offer

ENRICH_THREADS = 8  # worker threads for enrichment sources (K8s, Prometheus, lineage reads)


def build_runtime(settings: Settings) -> Runtime:
    core = build_core(settings)
    engine, catalog, fleet, clients = core.engine, core.catalog, core.fleet, core.clients
    metrics = Metrics()
    transport = chat_transport(settings, metrics)
    sender = OutboxSender(
        engine,
        transport,
        metrics,
        channel_rate=settings.slack_channel_rate,
        channel_burst=settings.slack_channel_burst,
        storms=StormPolicy(horizon_s=settings.storm_horizon_s)
        if settings.storm_horizon_s
        else None,
        look=Look(
            severities=tuple(catalog.severities),
            # Page is offered where PagerDuty is set up and the catalog says whom to page.
            paged=frozenset(
                name
                for name, entry in catalog.services.items()
                if entry.pagerduty and clients.pagerduty is not None
            ),
        ),
    )
    pressure = IntakePressure()
    enricher = Enricher(
        engine,
        catalog,
        clients.reads(settings.enrich_timeout_s),
        timeout_s=settings.enrich_timeout_s,
        lookback=timedelta(minutes=settings.enrich_lookback_min),
        metrics_window=timedelta(minutes=settings.metrics_window_min),
        limiter=anyio.CapacityLimiter(ENRICH_THREADS),
        offer=playbook_offer(core.ops.playbooks, catalog),
    )
    tracker = JobTracker(JobLedger(engine), core.ray, on_change=sender.wake)
    llm = llm_client(settings)
    # Summaries and triage read off the alert's hot path: a longer timeout than enrichment's.
    prom = clients.reads(max(settings.enrich_timeout_s, READER_MIN_TIMEOUT_S)).prom
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
    closers = [*core.closers, state.close]
    if llm is not None:
        closers.append(llm.close)
    enrichment = EnrichmentWorker(enricher, sender.wake, metrics=metrics, pressure=pressure)
    # Rows committed here wake the leader of their kind, on this replica or another.
    sender.announce = lambda: fleet.notify("outbox")
    enrichment.announce = lambda: fleet.notify("enrich")
    fleet.on_wake("outbox", sender.wake_here)
    fleet.on_wake("enrich", enrichment.poke)
    if core.ops.executor.desk is not None:
        # A declared incident (or a redrawn root) is work for the outbox and enrichment.

        def wake() -> None:
            sender.wake()
            enrichment.announce_work()

        core.ops.executor.desk.wake = wake
    # PostgreSQL takes two batches at once (see bot/store/group_commit.py); SQLite one writer.
    writers = 2 if engine.dialect.name == "postgresql" else 1
    committer = GroupCommitter(engine, name="intake", writers=writers)
    closers.append(committer.close)
    return Runtime(
        settings=settings,
        engine=engine,
        committer=committer,
        metrics=metrics,
        transport=transport,
        sender=sender,
        db_limiter=anyio.CapacityLimiter(settings.db_concurrency),
        catalog=catalog,
        clients=clients,
        enrichment=enrichment,
        pressure=pressure,
        fleet=fleet,
        ops=core.ops,
        jobs=tracker,
        summaries=summaries,
        reminders=Reminders(engine, catalog.update_periods(), wake=sender.wake),
        homes=Homes(
            engine,
            catalog,
            core.ops.executor,
            publish=transport.publish_home if isinstance(transport, SlackWebTransport) else None,
            pagerduty=clients.pagerduty is not None,
        ),
        llm=llm,
        prom=prom,
        state=state,
        closers=closers,
    )


def chat_transport(settings: Settings, metrics: Metrics) -> ChatTransport:
    """Slack's Web API when a bot token is set, else the console (stdout)."""
    if settings.slack_bot_token is None:
        return ConsoleTransport()
    client = make_web_client(
        settings.slack_bot_token.get_secret_value(),
        settings.slack_api_url,
        settings.slack_timeout_s,
    )
    return SlackWebTransport(client, metrics)


def background_loops(rt: Runtime) -> dict[str, Callable[[asyncio.Event], Awaitable[None]]]:
    """Each kind of background work and its loop; one replica of the fleet runs each."""
    takeover = Takeover(rt.ops.executor, rt.ops.runner, rt.fleet.is_alive)
    loops: dict[str, Callable[[asyncio.Event], Awaitable[None]]] = {
        "outbox": rt.sender.run,
        "enrich": rt.enrichment.run,
        # Ray jobs opsbot launched, followed to their end (reattached after a restart).
        "jobs": rt.jobs.run,
        # Post-incident summaries: the template at once, the LLM's version when ready.
        "summaries": rt.summaries.run,
        # Actions and playbook runs a dead replica (or a crash) left behind continue here.
        "runs": takeover.run,
        # One reminder per period when an incident has had no status update.
        "reminders": rt.reminders.run,
        # App Home tabs republished when what they show changed (at most 40 a minute).
        "homes": rt.homes.run,
    }
    freshness = freshness_loop(rt)
    if freshness is not None:
        # Datasets with a catalog `freshness` objective, every OPSBOT_FRESHNESS_CHECK_S.
        loops["freshness"] = freshness.run
    poller = registry_poller(rt)
    if poller is not None:
        # The MLflow Model Registry read every OPSBOT_MLFLOW_POLL_S (no webhooks from it).
        loops["registry"] = poller.run
    return loops


def freshness_loop(rt: Runtime) -> FreshnessLoop | None:
    """The freshness check where the catalog has datasets with a ``freshness`` objective and
    ``OPSBOT_FRESHNESS_CHECK_S`` is not 0; what it opens or resolves wakes the outbox and
    enrichment."""
    if rt.settings.freshness_check_s <= 0 or not watched(rt.catalog):
        return None

    def wake() -> None:
        rt.sender.wake()
        rt.enrichment.announce_work()

    return FreshnessLoop(
        rt.engine,
        rt.catalog,
        rt.incident_channel,
        interval_s=rt.settings.freshness_check_s,
        wake=wake,
        metrics=rt.metrics,
    )


def registry_poller(rt: Runtime) -> RegistryPoller | None:
    """The registry poller where ``OPSBOT_MLFLOW_TRACKING_URI`` and ``OPSBOT_MLFLOW_POLL_S``
    are set; its client is closed with the runtime."""
    settings = rt.settings
    if not settings.mlflow_tracking_uri or settings.mlflow_poll_s <= 0:
        return None
    token = settings.mlflow_tracking_token
    client = MlflowRegistryClient(
        settings.mlflow_tracking_uri, token=token.get_secret_value() if token else None
    )
    rt.closers.append(client.close)
    return RegistryPoller(
        rt.engine, client, settings.mlflow_tracking_uri, interval_s=settings.mlflow_poll_s
    )
