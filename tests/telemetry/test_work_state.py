"""The work opsbot holds, read from the real tables on SQLite and PostgreSQL: counts by status
with zeros, the ages of the oldest unsent message, waiting approval and stuck runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Incident, OutboxMessage, OutboxStatus
from bot.store.run_models import (
    ActionRun,
    Approval,
    ApprovalStatus,
    PlaybookRun,
    RunStatus,
)
from bot.store.types import utcnow
from bot.telemetry.work_state import read_work_state

NOW = utcnow().replace(microsecond=0)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def outbox(status: str, created: datetime) -> OutboxMessage:
    return OutboxMessage(channel="C1", kind="reply", status=status, created_at=created)


def action(key: str, status: str, changed: datetime) -> ActionRun:
    return ActionRun(
        key=key, action="scale_deployment", requested_by="U1", status=status, updated_at=changed
    )


def incident(n: int, status: str) -> Incident:
    return Incident(
        group_key=f"g{n}", source="alertmanager", title="t", status=status, opened_at=NOW
    )


def job(n: int, status: str) -> JobRun:
    return JobRun(
        submission_id=f"job-{n}",
        kind="train",
        template="train-small",
        entrypoint="python -m ray_jobs.train",
        requested_by="U1",
        status=status,
        start_deadline_at=ago(-10),
        deadline_at=ago(-60),
    )


def test_an_empty_database_reads_as_zeros_for_every_status(engine: Engine) -> None:
    state = read_work_state(engine, NOW, 1000)
    assert state.incidents_open == {"firing": 0, "acknowledged": 0}
    assert state.outbox_depth == 0
    assert state.outbox_oldest_age_s == 0
    assert state.action_runs == dict.fromkeys(
        ["planned", "awaiting_approval", "approved", "running"], 0
    )
    assert state.playbook_runs == {"running": 0, "waiting": 0}
    assert state.jobs == {"submitted": 0, "pending": 0, "running": 0}
    assert state.approvals_waiting == 0
    assert state.approval_oldest_waiting_age_s == 0
    assert state.action_run_oldest_applying_age_s == 0
    assert state.playbook_run_oldest_running_age_s == 0


def test_backlog_and_the_age_of_the_oldest_of_each_kind(engine: Engine) -> None:
    with Session(engine) as session:
        session.add_all(
            [
                incident(1, "firing"),
                incident(2, "firing"),
                incident(3, "acknowledged"),
                incident(4, "resolved"),
                outbox(OutboxStatus.SENT, ago(60)),  # sent long ago: not waiting
                outbox(OutboxStatus.SENDING, ago(7)),
                outbox(OutboxStatus.PENDING, ago(2)),
                action("a-wait", RunStatus.AWAITING_APPROVAL, ago(1)),
                action("a-late", RunStatus.AWAITING_APPROVAL, ago(90)),
                action("a-run", RunStatus.RUNNING, ago(12)),
                action("a-ok", RunStatus.APPROVED, ago(3)),
                action("a-done", RunStatus.SUCCEEDED, ago(500)),
                PlaybookRun(playbook="p", requested_by="U1", status="running", updated_at=ago(20)),
                PlaybookRun(playbook="p", requested_by="U1", status="waiting", updated_at=ago(99)),
                PlaybookRun(playbook="p", requested_by="U1", status="failed", updated_at=ago(999)),
                job(1, JobStatus.RUNNING),
                job(2, JobStatus.RUNNING),
                job(3, JobStatus.SUCCEEDED),
            ]
        )
        session.commit()
        runs = {r.key: r.id for r in session.exec(select(ActionRun)).all()}
        session.add_all(
            [
                # waiting 5 minutes, open for 25 more
                Approval(
                    token="t1",
                    action_run_id=runs["a-wait"],
                    requested_by="U1",
                    created_at=ago(5),
                    expires_at=ago(-25),
                ),
                # past its expiry: nobody can approve it any more, so it waits for no one
                Approval(
                    token="t2",
                    action_run_id=runs["a-late"],
                    requested_by="U1",
                    created_at=ago(90),
                    expires_at=ago(60),
                ),
                # decided: not waiting
                Approval(
                    token="t3",
                    action_run_id=runs["a-ok"],
                    requested_by="U1",
                    status=ApprovalStatus.APPROVED,
                    created_at=ago(4),
                    expires_at=ago(-26),
                ),
            ]
        )
        session.commit()

    state = read_work_state(engine, NOW, 1000)

    assert state.incidents_open == {"firing": 2, "acknowledged": 1}
    assert state.outbox_depth == 2
    assert state.outbox_oldest_age_s == 7 * 60
    assert state.action_runs == {
        "planned": 0,
        "awaiting_approval": 2,
        "approved": 1,
        "running": 1,
    }
    assert state.playbook_runs == {"running": 1, "waiting": 1}
    assert state.jobs == {"submitted": 0, "pending": 0, "running": 2}
    assert state.approvals_waiting == 1
    assert state.approval_oldest_waiting_age_s == 5 * 60
    assert state.action_run_oldest_applying_age_s == 12 * 60
    assert state.playbook_run_oldest_running_age_s == 20 * 60
