"""The work opsbot holds, read in one short transaction: open incidents, how much waits, and how
long the oldest of each kind has waited. Every query filters on an indexed status column and
touches only rows that are not finished, so its cost follows the backlog, not the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Incident, IncidentStatus, OutboxMessage, OutboxStatus, table
from bot.store.run_models import (
    ActionRun,
    Approval,
    ApprovalStatus,
    PlaybookRun,
    RunStatus,
)

UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)
ACTION_IN_FLIGHT = (
    RunStatus.PLANNED,
    RunStatus.AWAITING_APPROVAL,
    RunStatus.APPROVED,
    RunStatus.RUNNING,
)
ACTION_APPLYING = (RunStatus.APPROVED, RunStatus.RUNNING)  # should be done within minutes
PLAYBOOK_IN_FLIGHT = ("running", "waiting")  # bot.runner.graph: running, waiting, then final


@dataclass(frozen=True)
class WorkState:
    incidents_open: dict[str, int]  # every status of IncidentStatus.OPEN
    outbox_depth: int
    outbox_oldest_age_s: float  # 0 when nothing waits
    action_runs: dict[str, int]  # every status of ACTION_IN_FLIGHT, zeros included
    playbook_runs: dict[str, int]  # every status of PLAYBOOK_IN_FLIGHT
    jobs: dict[str, int]  # every status of JobStatus.ACTIVE
    approvals_waiting: int  # pending and not past their expiry
    approval_oldest_waiting_age_s: float
    action_run_oldest_applying_age_s: float  # since it last changed
    playbook_run_oldest_running_age_s: float  # since it last changed


def read_work_state(engine: Engine, now: datetime, timeout_ms: int) -> WorkState:
    """One read-only transaction; on PostgreSQL each statement is cut off at ``timeout_ms``."""
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
        return _read(conn, now)


def _read(conn: Connection, now: datetime) -> WorkState:
    outbox, actions, playbooks, jobs, approvals = (
        table(OutboxMessage),
        table(ActionRun),
        table(PlaybookRun),
        table(JobRun),
        table(Approval),
    )
    depth, oldest_unsent = conn.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.status.in_(UNSENT))
    ).one()
    waiting, oldest_waiting = conn.execute(
        select(func.count(), func.min(approvals.c.created_at))
        .select_from(actions.join(approvals, approvals.c.action_run_id == actions.c.id))
        .where(
            actions.c.status == RunStatus.AWAITING_APPROVAL,
            approvals.c.status == ApprovalStatus.PENDING,
            approvals.c.expires_at > now,
        )
    ).one()
    oldest_applying = conn.execute(
        select(func.min(actions.c.updated_at)).where(actions.c.status.in_(ACTION_APPLYING))
    ).scalar_one()
    oldest_running = conn.execute(
        select(func.min(playbooks.c.updated_at)).where(playbooks.c.status == "running")
    ).scalar_one()
    return WorkState(
        incidents_open=_by_status(conn, table(Incident).c.status, IncidentStatus.OPEN),
        outbox_depth=int(depth),
        outbox_oldest_age_s=_age(now, oldest_unsent),
        action_runs=_by_status(conn, actions.c.status, ACTION_IN_FLIGHT),
        playbook_runs=_by_status(conn, playbooks.c.status, PLAYBOOK_IN_FLIGHT),
        jobs=_by_status(conn, jobs.c.status, JobStatus.ACTIVE),
        approvals_waiting=int(waiting),
        approval_oldest_waiting_age_s=_age(now, oldest_waiting),
        action_run_oldest_applying_age_s=_age(now, oldest_applying),
        playbook_run_oldest_running_age_s=_age(now, oldest_running),
    )


def _by_status(conn: Connection, status: Any, statuses: tuple[str, ...]) -> dict[str, int]:
    rows = conn.execute(
        select(status, func.count()).where(status.in_(statuses)).group_by(status)
    ).all()
    counts = dict.fromkeys(statuses, 0)
    for row in rows:
        counts[str(row[0])] = int(row[1])
    return counts


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0
