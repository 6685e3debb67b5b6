"""opsbot's record of the Ray jobs it launched (``job_run``), and the messages each change queues.

Every change that the progress message shows queues an edit in the same transaction
(``enqueue_job_update``); the first record queues the message itself. A job started for an
incident is on its timeline: submitted, and how it ended. ``finish`` moves a job to
its final status at most once (a conditional UPDATE on ``final_posted``), and only the caller
that wins queues the final edit and the one reply saying how it ended, so a restart, a second
replica or a repeated poll never posts an outcome twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.audit.log import append as audit
from bot.incidents import timeline
from bot.jobs.templates import JobRequest, JobTemplate
from bot.outbox.queue import INTERACTIVE, enqueue_job_done, enqueue_job_post, enqueue_job_update
from bot.store.engine import session_scope
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Incident, table
from bot.store.types import utcnow


@dataclass(frozen=True)
class NewJob:
    template: JobTemplate
    request: JobRequest
    submission_id: str
    entrypoint: str
    requested_by: str
    action_run_id: int | None = None
    incident_id: int | None = None
    channel: str | None = None


class JobLedger:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # -- reads -----------------------------------------------------------------------------

    def get(self, ref: str | int) -> JobRun | None:
        """A job by its number (``12``, ``#12``) or its Ray submission id."""
        text = str(ref).strip().lstrip("#")
        with Session(self.engine, expire_on_commit=False) as session:
            if text.isdigit():
                return session.get(JobRun, int(text))
            return session.exec(select(JobRun).where(JobRun.submission_id == text)).first()

    def active(self) -> list[JobRun]:
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.exec(
                select(JobRun)
                .where(col(JobRun.status).in_(JobStatus.ACTIVE))
                .order_by(col(JobRun.id))
            ).all()
            return list(rows)

    def recent(self, limit: int = 10) -> list[JobRun]:
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.exec(select(JobRun).order_by(col(JobRun.id).desc()).limit(limit)).all()
            return list(rows)

    # -- writes ----------------------------------------------------------------------------

    def record(self, new: NewJob) -> JobRun:
        """The job's row, created with its progress message queued; the existing row when this
        submission id was recorded before (a retried submit)."""
        found = self.get(new.submission_id)
        if found is not None:
            return found
        now = self.clock()
        try:
            with session_scope(self.engine) as session:
                channel, thread_ts = _where(session, new.incident_id, new.channel)
                job = JobRun(
                    submission_id=new.submission_id,
                    kind=new.template.kind,
                    template=new.template.name,
                    params=dict(new.request.params),
                    resources={
                        "cpus": new.request.cpus,
                        "gpus": new.request.gpus,
                        "memory_gb": new.request.memory_gb,
                    },
                    entrypoint=new.entrypoint,
                    requested_by=new.requested_by,
                    action_run_id=new.action_run_id,
                    incident_id=new.incident_id,
                    channel=channel,
                    thread_ts=thread_ts,
                    status=JobStatus.SUBMITTED,
                    cost_per_gpu_hour=new.template.cost_per_gpu_hour,
                    wait_for_resources=new.request.wait,
                    start_deadline_at=now + timedelta(minutes=new.template.start_deadline_min),
                    deadline_at=now + timedelta(minutes=new.template.deadline_min),
                    submitted_at=now,
                    updated_at=now,
                )
                session.add(job)
                session.flush()
                enqueue_job_post(session, job)
                what = f"{job.kind} job #{job.id} {job.template} submitted ({job.entrypoint})"
                _on_timeline(session, job, "job_submitted", what, job.requested_by)
                return job
        except IntegrityError:  # recorded a moment ago by another caller
            again = self.get(new.submission_id)
            assert again is not None
            return again

    def change(self, job_id: int, *, edit: bool = True, **fields: Any) -> JobRun | None:
        """Set fields of an active job and (``edit``) queue an edit of its message. Nothing
        happens to a job that has already ended."""
        with session_scope(self.engine) as session:
            job = session.get(JobRun, job_id)
            if job is None or job.final_posted:
                return None
            for key, value in fields.items():
                setattr(job, key, value)
            job.updated_at = self.clock()
            session.add(job)
            if edit:
                enqueue_job_update(session, job)
            session.flush()
            session.expunge(job)
            return job

    def request_stop(self, job_id: int, who: str) -> None:
        with session_scope(self.engine) as session:
            job = session.get(JobRun, job_id)
            if job is not None and not job.final_posted and job.stop_requested_by is None:
                job.stop_requested_by = who
                job.message = f"stop requested by <@{who}>"
                job.updated_at = self.clock()
                session.add(job)
                enqueue_job_update(session, job, priority=INTERACTIVE)

    def finish(
        self, job_id: int, status: str, *, audit_as: str | None = None, **fields: Any
    ) -> bool:
        """Move the job to its final ``status`` once. True for the one caller that did it (its
        transaction also queued the final edit and the reply); False if it had already ended."""
        assert status in JobStatus.FINAL
        now = self.clock()
        with session_scope(self.engine) as session:
            won = session.connection().execute(
                update(table(JobRun))
                .where(col(JobRun.id) == job_id, col(JobRun.final_posted).is_(False))
                .values(final_posted=True, status=status, updated_at=now)
            )
            if int(won.rowcount) != 1:
                return False
            job = session.get(JobRun, job_id)
            assert job is not None
            session.refresh(job)
            for key, value in fields.items():
                setattr(job, key, value)
            if job.ended_at is None:
                job.ended_at = now
            session.add(job)
            session.flush()
            if audit_as is not None:
                audit(
                    session,
                    actor=audit_as,
                    event=f"job_{status}",
                    subject=f"job_run:{job.id}",
                    action="stop_ray_job",
                    params={"submission_id": job.submission_id},
                    result={"message": job.message or ""},
                )
            enqueue_job_update(session, job)
            enqueue_job_done(session, job)
            ended = f"{job.kind} job #{job.id} {job.template} {status}"
            ended += f": {job.message}" if job.message else ""
            _on_timeline(session, job, f"job_{status}", ended, job.stop_requested_by or audit_as)
            return True


def _on_timeline(session: Session, job: JobRun, kind: str, text: str, actor: str | None) -> None:
    """A job started for an incident is on its timeline."""
    if job.incident_id is not None:
        timeline.add(
            session,
            job.incident_id,
            kind,
            text,
            actor=actor,
            data={"job_run_id": job.id, "submission_id": job.submission_id},
        )


def _where(
    session: Session, incident_id: int | None, channel: str | None
) -> tuple[str | None, str | None]:
    """The channel and thread of a job's messages: its incident's thread when it has one (and
    the command came from that channel, or from the console), else the channel it came from."""
    if incident_id is not None:
        incident = session.get(Incident, incident_id)
        if (
            incident is not None
            and incident.slack_channel
            and channel
            in (
                None,
                incident.slack_channel,
            )
        ):
            return incident.slack_channel, incident.slack_ts
    return channel, None
