"""Putting Slack messages in the outbox, inside the caller's transaction.

Root posts and root edits carry no content: the sender renders the incident as it is when the
message goes out, so the root always shows the current state and queued edits collapse into one.
A Ray job's progress message works the same way, drawn from its ``job_run`` row.
Rows are only ever added here; all merging happens in the sender. Rows go in with plain INSERTs
(no ORM objects): this runs once or twice for every webhook delivery.

Each row gets its ``priority`` here, from what it is for: ``INTERACTIVE`` when a person is
waiting for it (an approval request, what their click or command did, the offer on the root),
``INFORMATIONAL`` (the default) for what the bot says on its own. The sender sends a channel's
interactive messages before its informational ones (``bot.outbox.sender``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert
from sqlmodel import Session, select

from bot.render.jobs import render_job_done
from bot.store.job_models import JobRun
from bot.store.models import (
    Attachment,
    Incident,
    OutboxKind,
    OutboxMessage,
    OutboxPriority,
    OutboxStatus,
    table,
)
from bot.store.types import utcnow

INTERACTIVE = OutboxPriority.INTERACTIVE
INFORMATIONAL = OutboxPriority.INFORMATIONAL


# Built once: executed with parameters, it is compiled once (``.values(...)`` on each call
# built and cache-keyed a new statement: half a millisecond per message).
_INSERT = insert(table(OutboxMessage))


def outbox_row(
    incident_id: int | None,
    channel: str,
    kind: str,
    text: str = "",
    blocks: list[dict[str, Any]] | None = None,
    *,
    attachment_id: int | None = None,
    job_run_id: int | None = None,
    priority: OutboxPriority = INFORMATIONAL,
) -> dict[str, Any]:
    """One outbox row, waiting to be sent, as ``insert_rows`` takes it."""
    now = utcnow()
    return {
        "incident_id": incident_id,
        "channel": channel,
        "kind": kind,
        "text": text,
        "blocks": blocks or [],
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "attachment_id": attachment_id,
        "job_run_id": job_run_id,
        "priority": priority,
    }


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """``rows`` (from ``outbox_row``) into the outbox in this order, in one statement."""
    if session.autoflush:
        session.flush()  # what Session.execute does first, for Core statements too
    session.connection().execute(_INSERT, rows)


def root_update_row(
    incident_id: int, channel: str, *, priority: OutboxPriority = INFORMATIONAL
) -> dict[str, Any]:
    """``enqueue_root_update``'s row, for a caller that holds the incident's id and Slack
    channel but not its ORM row (webhook intake, which batches its rows)."""
    return outbox_row(incident_id, channel, OutboxKind.ROOT_UPDATE, priority=priority)


def reply_row(
    incident_id: int,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]],
    *,
    priority: OutboxPriority = INFORMATIONAL,
) -> dict[str, Any]:
    """``enqueue_reply``'s row (see ``root_update_row``)."""
    return outbox_row(incident_id, channel, OutboxKind.REPLY, text, blocks, priority=priority)


def _add(
    session: Session,
    incident_id: int | None,
    channel: str,
    kind: str,
    text: str = "",
    blocks: list[dict[str, Any]] | None = None,
    attachment_id: int | None = None,
    job_run_id: int | None = None,
    priority: OutboxPriority = INFORMATIONAL,
) -> None:
    row = outbox_row(
        incident_id,
        channel,
        kind,
        text,
        blocks,
        attachment_id=attachment_id,
        job_run_id=job_run_id,
        priority=priority,
    )
    insert_rows(session, [row])


def enqueue_root_post(
    session: Session,
    incident: Incident,
    channel: str,
    *,
    priority: OutboxPriority = INFORMATIONAL,
) -> None:
    assert incident.id is not None
    incident.slack_channel = channel
    session.add(incident)
    _add(session, incident.id, channel, OutboxKind.ROOT_POST, priority=priority)


def enqueue_root_update(
    session: Session, incident: Incident, *, priority: OutboxPriority = INFORMATIONAL
) -> None:
    """Ask for the root to be redrawn.

    Every state change queues its own request, without looking at what is already queued: the
    sender folds all waiting requests of a root into one ``chat.update`` rendered from the state
    it reads *after* taking them, so a change committed at any moment is either in that render or
    has a request of its own still waiting. (Checking for a waiting request here instead would
    race with the sender.)
    """
    assert incident.id is not None
    if incident.slack_channel is not None:
        _add(
            session, incident.id, incident.slack_channel, OutboxKind.ROOT_UPDATE, priority=priority
        )


def enqueue_reply(
    session: Session,
    incident: Incident,
    text: str,
    blocks: list[dict[str, Any]],
    *,
    priority: OutboxPriority = INFORMATIONAL,
) -> None:
    assert incident.id is not None
    if incident.slack_channel is not None:
        _add(
            session,
            incident.id,
            incident.slack_channel,
            OutboxKind.REPLY,
            text,
            blocks,
            priority=priority,
        )


def enqueue_notice(
    session: Session,
    incident: Incident,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]],
    *,
    priority: OutboxPriority = INFORMATIONAL,
) -> None:
    """A message of its own in ``channel`` about ``incident`` (the stakeholders' channel)."""
    assert incident.id is not None
    _add(session, incident.id, channel, OutboxKind.NOTICE, text, blocks, priority=priority)


def enqueue_summary(
    session: Session, incident: Incident, kind: str, *, priority: OutboxPriority = INFORMATIONAL
) -> None:
    """Post (``summary_post``) or redraw (``summary_update``) the incident's summary in its
    thread; the content is drawn from its ``incident_summary`` row when sent."""
    assert incident.id is not None
    assert kind in (OutboxKind.SUMMARY_POST, OutboxKind.SUMMARY_UPDATE)
    if incident.slack_channel is not None:
        _add(session, incident.id, incident.slack_channel, kind, priority=priority)


def enqueue_file(
    session: Session,
    incident: Incident,
    filename: str,
    content: bytes,
    *,
    title: str,
    alt_text: str,
) -> None:
    """Upload a file into the incident's thread, after the messages queued before it."""
    assert incident.id is not None
    if incident.slack_channel is None:
        return
    attachment_id = session.execute(
        insert(table(Attachment))
        .values(
            incident_id=incident.id,
            filename=filename,
            title=title,
            alt_text=alt_text,
            content=content,
            created_at=utcnow(),
        )
        .returning(table(Attachment).c.id)
    ).scalar_one()
    _add(session, incident.id, incident.slack_channel, OutboxKind.FILE, title, [], attachment_id)


def enqueue_job_post(session: Session, job: JobRun) -> None:
    """Post the job's progress message (in its incident's thread when it has one): the answer
    to the person who launched it, so it is interactive."""
    _add_job(session, job, OutboxKind.JOB_POST, priority=INTERACTIVE)


def enqueue_job_update(
    session: Session, job: JobRun, *, priority: OutboxPriority = INFORMATIONAL
) -> None:
    """Ask for the progress message to be redrawn; waiting requests of one job fold into one
    ``chat.update`` rendered after taking them (see ``enqueue_root_update``)."""
    _add_job(session, job, OutboxKind.JOB_UPDATE, priority=priority)


def enqueue_job_done(session: Session, job: JobRun) -> None:
    """The one reply that says how the job ended, under its progress message. Rendered now:
    it states the outcome at the moment the job ended."""
    text, blocks = render_job_done(job)
    _add_job(session, job, OutboxKind.JOB_DONE, text, blocks)


def _add_job(
    session: Session,
    job: JobRun,
    kind: str,
    text: str = "",
    blocks: list[dict[str, Any]] | None = None,
    *,
    priority: OutboxPriority = INFORMATIONAL,
) -> None:
    assert job.id is not None
    if job.channel is not None:
        _add(
            session,
            job.incident_id,
            job.channel,
            kind,
            text,
            blocks,
            job_run_id=job.id,
            priority=priority,
        )


def outbox_depth(session: Session) -> int:
    return session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])  # type: ignore[attr-defined]
        )
    ).one()
