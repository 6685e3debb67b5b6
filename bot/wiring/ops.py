"""The execution path of a process: the executor and the playbook runner, whose approval
requests, progress and state changes go into the incident's thread.

Everything they put in the outbox answers a person (a click, a command, a run they started or
approved): it is queued interactive, and the outbox is woken at once (through the desk's
``wake``, which the serving runtime sets) instead of at its next poll."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.model import Catalog
from bot.clients.set import Clients
from bot.config import Settings
from bot.enrich.runner import PlaybookOffer
from bot.incidents.desk import IncidentDesk
from bot.outbox.queue import INTERACTIVE, enqueue_reply, enqueue_root_update
from bot.render.approvals import approval_request
from bot.render.blocks import note_reply
from bot.runner.execute import Executor
from bot.runner.graph import LazyCheckpointer, OnApproval, OnProgress, PlaybookRunner
from bot.runner.ops import Ops
from bot.runner.playbook import Playbook, Step, load_dir, matches
from bot.runtime import CONSOLE_CHANNEL
from bot.store.models import Incident
from bot.store.run_models import PlaybookRun, RunView
from bot.store.tx import run_tx
from bot.wiring.clients import group_resolver

log = logging.getLogger(__name__)


ThreadPoster = Callable[[int | None, str], None]
Wake = Callable[[], None]


def thread_poster(engine: Engine, wake: Wake) -> ThreadPoster:
    """``say(incident_id, text)``: a line into the incident's thread, through the outbox."""

    def say(incident_id: int | None, text: str) -> None:
        if incident_id is None:
            log.info("no incident thread for: %s", text)
            return

        def work(session: Session) -> None:
            incident = session.get(Incident, incident_id)
            if incident is not None:
                enqueue_reply(session, incident, *note_reply(text), priority=INTERACTIVE)

        run_tx(engine, work)
        wake()

    return say


MAX_OFFERED = 5


def playbook_offer(playbooks: dict[str, Playbook], catalog: Catalog) -> PlaybookOffer:
    """The playbooks that fit an incident; those made for its top suspect's kind first. The
    service's catalog ``serving`` picks between them (a canary's traffic, a Rollout, or the
    Deployment rolled back)."""

    def offer(labels: dict[str, str], kind: str | None, service: str | None) -> list[str]:
        entry = catalog.get(service)
        serving = entry.serving.kind if entry is not None and entry.serving else "deployment"
        fitting = [p for p in playbooks.values() if matches(p, labels, kind, service, serving)]
        fitting.sort(key=lambda p: (kind not in p.match.suspect_kinds, p.name))
        return [p.name for p in fitting[:MAX_OFFERED]]

    return offer


def thread_hooks(engine: Engine, wake: Wake) -> tuple[OnApproval, OnProgress]:
    """Approval requests and step progress of a playbook run go into its incident's thread."""
    say = thread_poster(engine, wake)

    def on_approval(run: PlaybookRun, step: Step, view: RunView, token: str) -> None:
        if run.incident_id is None:
            return

        def work(session: Session) -> None:
            incident = session.get(Incident, run.incident_id)
            if incident is not None:
                text, blocks = approval_request(view, run.requested_by, token)
                enqueue_reply(session, incident, text, blocks, priority=INTERACTIVE)

        run_tx(engine, work)
        wake()

    def on_progress(run: PlaybookRun, step: Step, result: dict[str, Any]) -> None:
        icon = "✅" if result.get("ok") else "❌"
        say(run.incident_id, f"{icon} {run.playbook} · {step.name}: {result.get('summary')}")

    return on_approval, on_progress


def root_redraw(engine: Engine, wake: Wake) -> Callable[[PlaybookRun], None]:
    """A playbook run changed state: redraw its incident's root (it shows the run's status)."""

    def redraw(run: PlaybookRun) -> None:
        if run.incident_id is None:
            return

        def work(session: Session) -> None:
            incident = session.get(Incident, run.incident_id)
            if incident is not None:
                enqueue_root_update(session, incident, priority=INTERACTIVE)

        run_tx(engine, work)
        wake()

    return redraw


def build_ops(
    settings: Settings, engine: Engine, catalog: Catalog, clients: Clients, *, replica: str
) -> tuple[Ops, Callable[[], None]]:
    """The executor and the playbook runner, and a closer for the checkpointer. ``replica``
    is written as the owner of the runs this process applies (``bot.fleet``)."""
    desk = IncidentDesk(engine, catalog, channel=settings.incident_channel or CONSOLE_CHANNEL)

    def wake() -> None:
        if desk.wake is not None:  # set by the serving runtime (bot/wiring/runtime.py)
            desk.wake()

    say = thread_poster(engine, wake)
    executor = Executor(
        engine,
        catalog,
        clients,
        say=say,
        resolve=group_resolver(settings),
        desk=desk,
        replica=replica,
    )
    playbooks, problems = load_dir(settings.playbooks_dir)
    for problem in problems:
        log.error("playbook not loaded: %s", problem)
    saver = LazyCheckpointer(settings.database_url)
    on_approval, on_progress = thread_hooks(engine, wake)
    runner = PlaybookRunner(
        engine,
        executor,
        playbooks,
        saver,
        on_approval=on_approval,
        on_progress=on_progress,
        on_status=root_redraw(engine, wake),
    )
    return Ops(executor=executor, runner=runner, playbooks=playbooks), saver.close
