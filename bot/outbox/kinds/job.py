"""A Ray job's messages in the outbox: the progress message (posted once, then edited in place)
and the one reply saying how the job ended, all drawn from its ``job_run`` row.

- ``job_post``: rendered from the row at send time; the edits queued before it ride on it.
- ``job_update``: waits for the post's ``ts``; all waiting edits of a job fold into one
  ``chat.update`` rendered after taking them, so the message shows the latest state.
- ``job_done``: rendered when queued (the final state), sent as a reply under the progress
  message (or in the incident's thread), after it.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.outbox.kinds.base import Call, Look, MessageKind, Posted
from bot.outbox.rows import Prepared, fail_row, fail_waiting, merge_waiting, take, take_riders
from bot.render.jobs import render_job
from bot.store.job_models import JobRun
from bot.store.models import OutboxKind, OutboxMessage, OutboxStatus
from bot.store.types import utcnow


class JobPost(MessageKind):
    """The progress message: in its incident's thread, or top-level in its channel."""

    kind = OutboxKind.JOB_POST

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        job = _job_of(session, row)
        if job is None:
            return None
        if job.message_ts:
            return _prepare_update(session, row, job)  # a second post redraws the first
        # Edits requested before the post ride on it (it shows the current state), and share
        # its fate: merged if it lands, retried or failed with it if not.
        rider_ids = take_riders(
            session,
            col(OutboxMessage.job_run_id) == job.id,
            col(OutboxMessage.kind) == OutboxKind.JOB_UPDATE,
        )
        session.refresh(job)  # render what was committed before the edits were taken
        prepared = _job_message(session, row, job, thread_ts=job.thread_ts)
        prepared.row_ids += rider_ids
        return prepared

    def thread_of(self, session: Session, row: OutboxMessage) -> str | None:
        job = _find_job(session, row.job_run_id)
        return job.thread_ts if job is not None else None

    def note_posted(self, session: Session, posted: Posted, ts: str) -> None:
        """The progress message landed: its ``ts`` is where the edits and the final reply go."""
        job = _find_job(session, posted.job_run_id)
        if job is not None:
            job.message_ts = ts
            session.add(job)

    def refused_for_good(self, session: Session, p: Prepared, detail: str) -> None:
        # Without a progress message its edits and final reply have nowhere to go.
        fail_waiting(
            session,
            col(OutboxMessage.job_run_id) == p.job_run_id,
            f"progress message failed: {detail}",
        )


class JobUpdate(MessageKind):
    """A redraw of the progress message, once it is posted."""

    kind = OutboxKind.JOB_UPDATE
    call = Call.UPDATE

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        job = _posted_job(session, row)
        return _prepare_update(session, row, job) if job is not None else None


class JobDone(MessageKind):
    """The reply saying how the job ended, under its progress message."""

    kind = OutboxKind.JOB_DONE

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        job = _posted_job(session, row)
        if job is None:
            return None
        assert row.id is not None
        take(session, row)
        return Prepared(
            kind=OutboxKind.JOB_DONE,
            channel=row.channel,
            incident_id=row.incident_id,
            row_ids=[row.id],
            text=row.text,
            blocks=row.blocks,
            thread_ts=job.thread_ts or job.message_ts,
            job_run_id=job.id,
        )

    def thread_of(self, session: Session, row: OutboxMessage) -> str | None:
        job = _find_job(session, row.job_run_id)
        return (job.thread_ts or job.message_ts) if job is not None else None


def _find_job(session: Session, job_run_id: int | None) -> JobRun | None:
    return session.get(JobRun, job_run_id) if job_run_id is not None else None


def _job_of(session: Session, row: OutboxMessage) -> JobRun | None:
    """The row's job; a row whose job is gone fails."""
    job = _find_job(session, row.job_run_id)
    if job is None:
        fail_row(row, "job run missing")
        session.add(row)
    return job


def _posted_job(session: Session, row: OutboxMessage) -> JobRun | None:
    """The row's job once its progress message is posted: edits and the final reply wait for
    it, as long as it may come, and fail when it never will."""
    job = _job_of(session, row)
    if job is None:
        return None
    if not job.message_ts:
        if not _post_waiting(session, row.job_run_id):
            fail_row(row, "the job's progress message was never posted")
            session.add(row)
        return None
    return job


def _prepare_update(session: Session, row: OutboxMessage, job: JobRun) -> Prepared:
    assert row.id is not None
    merge_waiting(
        session,
        row.id,
        col(OutboxMessage.job_run_id) == job.id,
        col(OutboxMessage.kind) == OutboxKind.JOB_UPDATE,
    )
    session.refresh(job)  # render what was committed before the requests were taken
    prepared = _job_message(session, row, job, thread_ts=None)
    prepared.kind = OutboxKind.JOB_UPDATE
    prepared.root_ts = job.message_ts
    return prepared


def _job_message(
    session: Session, row: OutboxMessage, job: JobRun, *, thread_ts: str | None
) -> Prepared:
    assert row.id is not None
    take(session, row)
    text, blocks = render_job(job, utcnow())
    return Prepared(
        kind=row.kind,
        channel=row.channel,
        incident_id=row.incident_id,
        row_ids=[row.id],
        text=text,
        blocks=blocks,
        thread_ts=thread_ts,
        job_run_id=job.id,
    )


def _post_waiting(session: Session, job_run_id: int | None) -> bool:
    """Whether the job's progress message is still to be posted (queued or in flight)."""
    found = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.job_run_id == job_run_id,
            OutboxMessage.kind == OutboxKind.JOB_POST,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        )
    ).first()
    return found is not None
