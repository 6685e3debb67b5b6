"""Building the execution path for a running opsbot: clients, executor, playbook runner."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from bot.catalog.model import Catalog
from bot.clients.ray import RayJobsClient
from bot.config import Settings
from bot.enrich.runner import PlaybookOffer
from bot.outbox.queue import enqueue_reply, enqueue_root_update
from bot.render.approvals import approval_request
from bot.render.blocks import note_reply
from bot.runner.execute import Clients, Executor
from bot.runner.graph import LazyCheckpointer, OnApproval, OnProgress, PlaybookRunner
from bot.runner.ops import Ops
from bot.runner.playbook import Playbook, Step, load_dir, matches
from bot.store.models import Incident
from bot.store.run_models import PlaybookRun, RunView
from bot.store.tx import run_tx

log = logging.getLogger(__name__)


def thread_poster(engine: Engine) -> Any:
    """``say(incident_id, text)``: a line into the incident's thread, through the outbox."""

    def say(incident_id: int | None, text: str) -> None:
        if incident_id is None:
            log.info("no incident thread for: %s", text)
            return

        def work(session: Any) -> None:
            incident = session.get(Incident, incident_id)
            if incident is not None:
                enqueue_reply(session, incident, *note_reply(text))

        run_tx(engine, work)

    return say


ACTION_TIMEOUT_S = 10.0  # a write is worth waiting for longer than an enrichment read


def action_clients(settings: Settings, ray: RayJobsClient | None = None) -> Clients:
    """The adapters actions write through, each where configured, with their own timeouts
    (``ray``: the Ray job client the process shares with its job tracker)."""
    from bot.clients.kubernetes import KubeClient
    from bot.clients.prometheus import PromClient

    kube: KubeClient | None
    if settings.kubeconfig is not None:
        kube = KubeClient.from_kubeconfig(str(settings.kubeconfig), timeout_s=ACTION_TIMEOUT_S)
    else:
        kube = KubeClient.from_environment(timeout_s=ACTION_TIMEOUT_S)
    prom = (
        PromClient(settings.prometheus_url, timeout_s=ACTION_TIMEOUT_S)
        if settings.prometheus_url
        else None
    )
    pagerduty = None
    if settings.pagerduty_api_token is not None:
        if not settings.pagerduty_from:
            log.warning(
                "PAGERDUTY_API_TOKEN is set but OPSBOT_PAGERDUTY_FROM (the email of a PagerDuty "
                "user, sent as From on writes) is not: PagerDuty actions are off"
            )
        else:
            from bot.clients.pagerduty import PagerDutyClient

            pagerduty = PagerDutyClient(
                settings.pagerduty_api_token.get_secret_value(),
                base_url=settings.pagerduty_api_url or "https://api.pagerduty.com",
                from_email=settings.pagerduty_from,
            )
    airflow = None
    if settings.airflow_url:
        from bot.clients.airflow import AirflowClient

        airflow = AirflowClient(
            settings.airflow_url,
            username=settings.airflow_username,
            password=settings.airflow_password.get_secret_value()
            if settings.airflow_password
            else None,
        )
    return Clients(
        kube=kube,
        prom=prom,
        pagerduty=pagerduty,
        airflow=airflow,
        ray=ray or ray_client(settings),
    )


def ray_client(settings: Settings) -> RayJobsClient:
    """The Ray job API at ``RAY_ADDRESS``; without it, a local head started on first use."""
    if settings.ray_address:
        address = settings.ray_address
        if not address.startswith(("http://", "https://")):
            # ray:// and bare host:port address the client server or GCS, not the job API.
            log.warning("RAY_ADDRESS %s is not the job API's http(s) URL; using it as is", address)
        return RayJobsClient(address, timeout_s=ACTION_TIMEOUT_S)
    from bot.jobs.local_head import LocalRayHead

    head = LocalRayHead(
        dashboard_port=settings.ray_local_dashboard_port, gcs_port=settings.ray_local_gcs_port
    )
    return RayJobsClient(head.address, timeout_s=ACTION_TIMEOUT_S, ensure=head.ensure)


MAX_OFFERED = 5


def playbook_offer(playbooks: dict[str, Playbook]) -> PlaybookOffer:
    """The playbooks that fit an incident; those made for its top suspect's kind first."""

    def offer(labels: dict[str, str], kind: str | None, service: str | None) -> list[str]:
        fitting = [p for p in playbooks.values() if matches(p, labels, kind, service)]
        fitting.sort(key=lambda p: (kind not in p.match.suspect_kinds, p.name))
        return [p.name for p in fitting[:MAX_OFFERED]]

    return offer


def thread_hooks(engine: Engine) -> tuple[OnApproval, OnProgress]:
    """Approval requests and step progress of a playbook run go into its incident's thread."""
    say = thread_poster(engine)

    def on_approval(run: PlaybookRun, step: Step, view: RunView, token: str) -> None:
        if run.incident_id is None:
            return

        def work(session: Any) -> None:
            incident = session.get(Incident, run.incident_id)
            if incident is not None:
                text, blocks = approval_request(view, run.requested_by, token)
                enqueue_reply(session, incident, text, blocks)

        run_tx(engine, work)

    def on_progress(run: PlaybookRun, step: Step, result: dict[str, Any]) -> None:
        icon = "✅" if result.get("ok") else "❌"
        say(run.incident_id, f"{icon} {run.playbook} · {step.name}: {result.get('summary')}")

    return on_approval, on_progress


def root_redraw(engine: Engine) -> Callable[[PlaybookRun], None]:
    """A playbook run changed state: redraw its incident's root (it shows the run's status)."""

    def redraw(run: PlaybookRun) -> None:
        if run.incident_id is None:
            return

        def work(session: Any) -> None:
            incident = session.get(Incident, run.incident_id)
            if incident is not None:
                enqueue_root_update(session, incident)

        run_tx(engine, work)

    return redraw


def build_ops(
    settings: Settings, engine: Engine, catalog: Catalog, clients: Clients, *, replica: str
) -> tuple[Ops, Any]:
    """The executor and the playbook runner, and a closer for the checkpointer. ``replica``
    is written as the owner of the runs this process applies (``bot.fleet``)."""
    say = thread_poster(engine)
    resolve = None
    if settings.slack_bot_token is not None:
        from bot.clients.slack_groups import SlackGroupResolver

        resolve = SlackGroupResolver(
            settings.slack_bot_token.get_secret_value(), settings.slack_api_url
        )
    executor = Executor(engine, catalog, clients, say=say, resolve=resolve, replica=replica)
    playbooks, problems = load_dir(settings.playbooks_dir)
    for problem in problems:
        log.error("playbook not loaded: %s", problem)
    saver = LazyCheckpointer(settings.database_url)
    on_approval, on_progress = thread_hooks(engine)
    runner = PlaybookRunner(
        engine,
        executor,
        playbooks,
        saver,
        on_approval=on_approval,
        on_progress=on_progress,
        on_status=root_redraw(engine),
    )
    return Ops(executor=executor, runner=runner, playbooks=playbooks), saver.close
