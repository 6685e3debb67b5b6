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

from bot.outbox.rows import Prepared, fail_row, merge_waiting, take, take_riders
from bot.render.jobs import render_job
from bot.store.job_models import JobRun
from bot.store.models import OutboxKind, OutboxMessage, OutboxStatus
from bot.store.types import utcnow


def prepare_job(session: Session, row: OutboxMessage) -> Prepared | None:
    job = session.get(JobRun, row.job_run_id) if row.job_run_id is not None else None
    if job is None:
        fail_row(row, "job run missing")
        session.add(row)
        return None
    if row.kind == OutboxKind.JOB_POST and not job.message_ts:
        return _prepare_job_post(session, row, job)
    if not job.message_ts:
        # Edits and the final reply wait for the progress message, as long as it may come.
        if not job_post_waiting(session, row.job_run_id):
            fail_row(row, "the job's progress message was never posted")
            session.add(row)
        return None
    if row.kind == OutboxKind.JOB_DONE:
        return _prepare_job_done(session, row, job)
    return _prepare_job_update(session, row, job)  # a second post redraws the first


def _prepare_job_post(session: Session, row: OutboxMessage, job: JobRun) -> Prepared:
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


def _prepare_job_update(session: Session, row: OutboxMessage, job: JobRun) -> Prepared:
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


def _prepare_job_done(session: Session, row: OutboxMessage, job: JobRun) -> Prepared:
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


def job_post_waiting(session: Session, job_run_id: int | None) -> bool:
    """Whether the job's progress message is still to be posted (queued or in flight)."""
    found = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.job_run_id == job_run_id,
            OutboxMessage.kind == OutboxKind.JOB_POST,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        )
    ).first()
    return found is not None


def job_thread(session: Session, row: OutboxMessage) -> str | None:
    """The thread a job row was posted in (None: the channel itself)."""
    job = session.get(JobRun, row.job_run_id) if row.job_run_id is not None else None
    if job is None:
        return None
    return job.thread_ts if row.kind == OutboxKind.JOB_POST else job.thread_ts or job.message_ts


def note_job_posted(session: Session, job_run_id: int | None, ts: str) -> None:
    """The progress message landed: its ``ts`` is where the edits and the final reply go."""
    job = session.get(JobRun, job_run_id) if job_run_id is not None else None
    if job is not None:
        job.message_ts = ts
        session.add(job)
