"""Playbook runs as LangGraph graphs, checkpointed in opsbot's own database.

One node per step, in file order; after each step the route is the next step, the step named
by ``on_failure`` (or the end) when it did not succeed. A step that needs approval calls
``interrupt()``: the run sleeps in the checkpointer (surviving restarts) until an approval
click resumes it with ``Command(resume=...)``. A node re-runs from its start on resume, so a
step's side effects go through ``Executor.request`` with a key fixed per run and step: the
second pass finds the same action run (approved, executed once) instead of making another.

A run is invoked by one replica at a time: its ``owner`` is set (a conditional UPDATE from
nobody, or from a dead replica) while a replica drives the graph, and cleared when the graph
stops (waiting, or done). The ``runs`` leader adopts runs whose owner died mid-step
(``adopt_orphans``), and those whose approval was decided while nobody drove them.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from jinja2 import TemplateError
from sqlalchemy import Engine, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from actions.base import Target
from bot.incidents import timeline
from bot.policy.check import may_run
from bot.runner.execute import Executor
from bot.runner.playbook import Playbook, Step, holds, render
from bot.store.engine import session_scope
from bot.store.models import table
from bot.store.run_models import ActionRun, Approval, PlaybookRun, RunStatus, RunView
from bot.store.types import utcnow

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

# LangGraph (and the LangChain it pulls in) costs seconds to import: it is loaded on the first
# playbook run, not when opsbot starts.
END = "__end__"
START = "__start__"

log = logging.getLogger(__name__)

OK_STATUSES = (RunStatus.SUCCEEDED, RunStatus.DRY_RUN)
SETTLE_WAIT_S = 900.0  # the longest a step waits for another thread applying its action


class RunState(TypedDict, total=False):
    context: dict[str, Any]  # incident, labels, suspect, service, params (fixed at start)
    steps: Annotated[dict[str, dict[str, Any]], operator.or_]  # results by step name
    failed: bool


@dataclass(frozen=True)
class PlaybookRunView:
    id: int
    playbook: str
    status: str  # running, waiting, succeeded, failed
    steps: dict[str, dict[str, Any]]
    waiting_for: str | None = None  # the approval token a waiting run needs


OnApproval = Callable[[PlaybookRun, Step, RunView, str], None]
OnProgress = Callable[[PlaybookRun, Step, dict[str, Any]], None]


def thread_id(run_id: int) -> str:
    return f"playbook-run-{run_id}"


class LazyCheckpointer:
    """Opens the checkpointer on first use, so building the app never touches the database
    (a database that is down at start gives 503s, not a crash)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._saver: BaseCheckpointSaver[Any] | None = None
        self._close: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def get(self) -> BaseCheckpointSaver[Any]:
        with self._lock:
            if self._saver is None:
                self._saver, self._close = checkpointer_for(self.database_url)
            return self._saver

    def close(self) -> None:
        with self._lock:
            if self._close is not None:
                self._close()
            self._saver = self._close = None


def checkpointer_for(database_url: str) -> tuple[BaseCheckpointSaver[Any], Callable[[], None]]:
    """A LangGraph checkpointer in the same database as everything else, and its closer."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(url.database or ":memory:", check_same_thread=False, timeout=30)
        saver = SqliteSaver(conn)
        saver.setup()
        return saver, conn.close
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    pool: ConnectionPool[Any] = ConnectionPool(
        dsn,
        min_size=1,
        max_size=4,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
    )
    saver_pg = PostgresSaver(pool)
    saver_pg.setup()
    return saver_pg, pool.close


class PlaybookRunner:
    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        playbooks: Mapping[str, Playbook],
        checkpointer: BaseCheckpointSaver[Any] | LazyCheckpointer,
        *,
        on_approval: OnApproval | None = None,
        on_progress: OnProgress | None = None,
        on_status: Callable[[PlaybookRun], None] | None = None,
    ) -> None:
        self.engine = engine
        self.executor = executor
        self.playbooks = dict(playbooks)
        self.checkpointer = checkpointer
        self.on_approval = on_approval
        self.on_progress = on_progress
        self.on_status = on_status  # the run's status or step changed (redraw the root)
        self._graphs: dict[str, Any] = {}

    # -- public ----------------------------------------------------------------------------

    def start(
        self,
        name: str,
        *,
        actor: str,
        context: dict[str, Any],
        params: Mapping[str, str] | None = None,
        incident_id: int | None = None,
        dry_run: bool = False,
    ) -> PlaybookRunView:
        playbook = self.playbooks[name]
        service = context.get("service") or {}
        target = Target(service.get("namespace"), f"playbook/{name}")
        decision = may_run(
            self.executor.catalog.policy,
            actor,
            playbook=name,
            target=target,
            resolve=self.executor.resolve,
        )
        if not decision.allowed:
            raise PermissionError(decision.reason)
        run_params = {**playbook.params, **(params or {})}
        unknown = set(params or {}) - set(playbook.params)
        if unknown:
            raise ValueError(
                f"{name} takes no param {', '.join(sorted(unknown))} "
                f"(it takes: {', '.join(sorted(playbook.params)) or 'none'})"
            )
        with session_scope(self.engine) as session:
            run = PlaybookRun(
                playbook=name,
                params=run_params,
                incident_id=incident_id,
                requested_by=actor,
                dry_run=dry_run,
                status="running",
                owner=self.executor.replica,
            )
            session.add(run)
            session.flush()
            assert run.id is not None
            run_id = run.id
            if incident_id is not None:
                timeline.add(
                    session,
                    incident_id,
                    "playbook_started",
                    f"Playbook {name} started" + (" (dry run)" if dry_run else ""),
                    actor=actor,
                    data={"playbook_run_id": run_id, "playbook": name},
                )
        state: RunState = {
            "context": {**context, "params": run_params, "run_id": run_id},
            "steps": {},
        }
        return self._invoke(run_id, state)

    def resume(self, run_id: int) -> PlaybookRunView:
        """Continue a run after its approval was decided, unless a replica drives it already."""
        if not self._claim(run_id, None):
            return self.view(run_id)
        return self._invoke(run_id, _resume())

    def adopt_orphans(self, alive: Callable[[str], bool]) -> list[PlaybookRunView]:
        """Runs nobody drives that should move: those whose owner died mid-step continue from
        their last checkpoint; waiting runs whose approval was decided continue too. A run a
        live replica drives is never touched."""
        with Session(self.engine) as session:
            runs = session.exec(
                select(PlaybookRun.id, PlaybookRun.status, PlaybookRun.owner).where(
                    col(PlaybookRun.status).in_(["running", "waiting"])
                )
            ).all()
        out = []
        for run_id, status, owner in runs:
            assert run_id is not None
            if owner is not None and alive(owner):
                continue
            if status == "waiting" and self._still_waiting(run_id):
                continue
            if not self._claim(run_id, owner):
                continue
            log.info("adopted playbook run %s (%s) from %s", run_id, status, owner or "nobody")
            out.append(self._invoke(run_id, _resume() if status == "waiting" else None))
        return out

    def view(self, run_id: int) -> PlaybookRunView:
        with Session(self.engine) as session:
            run = session.get(PlaybookRun, run_id)
            assert run is not None
        snapshot = self._graph(run.playbook).get_state(_config(run_id))
        steps = dict((snapshot.values or {}).get("steps", {}))
        return PlaybookRunView(run_id, run.playbook, run.status, steps, self._waiting_token(run_id))

    # -- the graph -------------------------------------------------------------------------

    def _invoke(self, run_id: int, payload: Any) -> PlaybookRunView:
        """Drive the graph until it waits or ends; the caller holds the run (``owner``)."""
        try:
            with Session(self.engine) as session:
                run = session.get(PlaybookRun, run_id)
                assert run is not None
            graph = self._graph(run.playbook)
            graph.invoke(payload, _config(run_id))
            snapshot = graph.get_state(_config(run_id))
            values = snapshot.values or {}
            # A run whose failure path ran to its end still failed: say so.
            failed = values.get("failed") or any(
                not r.get("ok", False) for r in values.get("steps", {}).values()
            )
            status = "waiting" if snapshot.next else "failed" if failed else "succeeded"
            self._set_status(run_id, status)
        finally:
            self._let_go(run_id)
        return self.view(run_id)

    def _claim(self, run_id: int, owner: str | None) -> bool:
        """Become the run's driver, taking it from ``owner`` (None: nobody drives it)."""
        runs = table(PlaybookRun)
        with session_scope(self.engine) as session:
            result = session.connection().execute(
                update(runs)
                .where(
                    runs.c.id == run_id,
                    runs.c.status.in_(("running", "waiting")),  # a finished run stays finished
                    runs.c.owner.is_(None) if owner is None else runs.c.owner == owner,
                )
                .values(owner=self.executor.replica)
            )
            return int(result.rowcount) == 1

    def _let_go(self, run_id: int) -> None:
        runs = table(PlaybookRun)
        with session_scope(self.engine) as session:
            session.connection().execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.owner == self.executor.replica)
                .values(owner=None)
            )

    def _graph(self, name: str) -> Any:
        if name not in self._graphs:
            self._graphs[name] = self._build(self.playbooks[name])
        return self._graphs[name]

    def _build(self, playbook: Playbook) -> Any:
        from langgraph.graph import StateGraph

        builder: StateGraph[RunState] = StateGraph(RunState)
        names = [s.name for s in playbook.steps]
        for step in playbook.steps:
            node: Any = self._node(playbook, step)
            builder.add_node(step.name, node)
        builder.add_edge(START, names[0])
        for i, step in enumerate(playbook.steps):
            following = names[i + 1] if i + 1 < len(names) else END
            builder.add_conditional_edges(step.name, _router(step, following), [*names, END])
        saver = (
            self.checkpointer.get()
            if isinstance(self.checkpointer, LazyCheckpointer)
            else self.checkpointer
        )
        return builder.compile(checkpointer=saver)

    def _node(self, playbook: Playbook, step: Step) -> Callable[[RunState], dict[str, Any]]:
        def run_step(state: RunState) -> dict[str, Any]:
            run_id = int(state["context"]["run_id"])
            run = self._run(run_id)
            context = {**state["context"], "steps": state.get("steps", {})}
            try:
                if step.when and not holds(step.when, context):
                    result = {"ok": True, "status": "skipped", "summary": f"skipped ({step.when})"}
                    return {"steps": {step.name: result}}
                params = render(step.params, context)
            except TemplateError as exc:
                # A param the incident or catalog cannot fill: the step fails, the run goes on
                # to its on_failure route, and the thread says what was missing.
                result = {
                    "ok": False,
                    "status": "failed",
                    "summary": f"could not fill params: {exc}",
                }
                if self.on_progress is not None:
                    self.on_progress(self._run(run_id), step, result)
                update: dict[str, Any] = {"steps": {step.name: result}}
                if step.on_failure == "stop":
                    update["failed"] = True
                return update
            approval = {"required": True, "none": False}.get(step.approval)
            key = f"playbook_run:{run_id}:{step.name}"
            self._set_status(run_id, "running", step.name)
            view = self.executor.request(
                step.action,
                params,
                actor=run.requested_by,
                incident_id=run.incident_id,
                dry_run=run.dry_run,
                key=key,
                playbook_run_id=run_id,
                approval=approval,
            )
            if view.status == RunStatus.AWAITING_APPROVAL:
                if view.approval_token and self.on_approval is not None:
                    self.on_approval(run, step, view, view.approval_token)
                self._set_status(run_id, "waiting", step.name)
                from langgraph.types import interrupt

                interrupt({"step": step.name, "action_run": view.id})
            if view.id is not None:  # None: refused before any run existed (bad params)
                view = self._settle(key)
            result = {
                "ok": view.status in OK_STATUSES,
                "status": view.status,
                "summary": view.message,
                "data": view.result.get("data", {}),
                "action_run": view.id,
            }
            if self.on_progress is not None:
                self.on_progress(run, step, result)
            update = {"steps": {step.name: result}}
            if not result["ok"] and step.on_failure == "stop":
                update["failed"] = True
            return update

        return run_step

    def _settle(self, key: str) -> RunView:
        """The step's action run, executed if it was approved and not yet run."""
        with Session(self.engine, expire_on_commit=False) as session:
            action_run = session.exec(select(ActionRun).where(ActionRun.key == key)).first()
            assert action_run is not None
            assert action_run.id is not None
        if action_run.status == RunStatus.APPROVED:
            self.executor.execute(action_run.id)  # claims it: runs once even if raced
        deadline = time.monotonic() + SETTLE_WAIT_S
        found = self.executor.lookup(key)
        # ``approved``/``running``: another thread or replica is applying it right now (or,
        # after a crash, its adopter is). Wait for its result rather than applying it twice.
        while found is not None and found.status in (RunStatus.APPROVED, RunStatus.RUNNING):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
            found = self.executor.lookup(key)
        assert found is not None
        return found

    # -- rows ------------------------------------------------------------------------------

    def _run(self, run_id: int) -> PlaybookRun:
        with Session(self.engine, expire_on_commit=False) as session:
            run = session.get(PlaybookRun, run_id)
            assert run is not None
            return run

    def _set_status(self, run_id: int, status: str, step: str | None = None) -> None:
        with session_scope(self.engine) as session:
            run = session.get(PlaybookRun, run_id)
            assert run is not None
            changed = run.status != status or (step is not None and run.current_step != step)
            if run.status != status and status in ("succeeded", "failed") and run.incident_id:
                timeline.add(
                    session,
                    run.incident_id,
                    "playbook_finished",
                    f"Playbook {run.playbook} {status}",
                    data={"playbook_run_id": run_id, "playbook": run.playbook, "status": status},
                )
            run.status = status
            if step is not None:
                run.current_step = step
            run.updated_at = utcnow()
            session.add(run)
        if changed and self.on_status is not None:
            self.on_status(run)

    def _waiting_token(self, run_id: int) -> str | None:
        with Session(self.engine) as session:
            row = session.exec(
                select(Approval.token)
                .join(ActionRun, col(ActionRun.id) == col(Approval.action_run_id))
                .where(
                    col(ActionRun.playbook_run_id) == run_id,
                    col(Approval.status) == "pending",
                )
            ).first()
            return row

    def _still_waiting(self, run_id: int) -> bool:
        return self._waiting_token(run_id) is not None


def _resume() -> Any:
    from langgraph.types import Command

    return Command(resume=True)


def _config(run_id: int) -> Any:
    return {"configurable": {"thread_id": thread_id(run_id)}}


def _router(step: Step, following: str) -> Callable[[RunState], str]:
    def route(state: RunState) -> str:
        result = state.get("steps", {}).get(step.name, {})
        if result.get("ok", False):
            return following
        if step.on_failure == "stop":
            return END
        if step.on_failure == "continue":
            return following
        return step.on_failure

    return route
