"""An incident's post-incident summary in the outbox: one reply in its thread, drawn from its
``incident_summary`` row when sent, and edited in place when a newer version is ready.

- ``summary_post``: waits for the thread; renders the row as it is when taken (so a version
  written while it waited goes out directly); the edits queued before it ride on it.
- ``summary_update``: waits for the post's ``ts``; all waiting edits fold into one
  ``chat.update`` of the row's latest version.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.outbox.kinds.base import Call, Look, MessageKind, Posted, incident_of, thread_of_incident
from bot.outbox.rows import Prepared, fail_row, merge_waiting, take, take_riders
from bot.store.models import OutboxKind, OutboxMessage, OutboxStatus
from bot.store.summary_models import IncidentSummary
from bot.summary.requests import summary_of


class SummaryPost(MessageKind):
    kind = OutboxKind.SUMMARY_POST

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        incident = incident_of(session, row)
        summary = _summary(session, row)
        if summary is None:
            return None
        if not incident.slack_ts:
            return None  # no thread yet
        assert row.id is not None
        rider_ids = take_riders(
            session,
            col(OutboxMessage.incident_id) == incident.id,
            col(OutboxMessage.kind) == OutboxKind.SUMMARY_UPDATE,
        )
        session.refresh(summary)
        take(session, row)
        return Prepared(
            kind=OutboxKind.SUMMARY_POST,
            channel=row.channel,
            incident_id=incident.id,
            row_ids=[row.id, *rider_ids],
            text=summary.slack_text,
            blocks=summary.slack_blocks,
            thread_ts=incident.slack_ts,
        )

    def thread_of(self, session: Session, row: OutboxMessage) -> str | None:
        return thread_of_incident(session, row)

    def note_posted(self, session: Session, posted: Posted, ts: str) -> None:
        """The summary landed: its ``ts`` is where later versions go."""
        summary = summary_of(session, posted.incident_id)
        if summary is not None:
            summary.message_ts = ts
            summary.channel = posted.channel
            session.add(summary)


class SummaryUpdate(MessageKind):
    kind = OutboxKind.SUMMARY_UPDATE
    call = Call.UPDATE

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        incident = incident_of(session, row)
        summary = _summary(session, row)
        if summary is None:
            return None
        if not summary.message_ts:
            if _post_waiting(session, incident.id):
                return None  # the post goes first and takes this edit along
            fail_row(row, "the summary was never posted")
            session.add(row)
            return None
        assert row.id is not None
        merge_waiting(
            session,
            row.id,
            col(OutboxMessage.incident_id) == incident.id,
            col(OutboxMessage.kind) == OutboxKind.SUMMARY_UPDATE,
        )
        session.refresh(summary)  # render what was committed before the edits were taken
        take(session, row)
        return Prepared(
            kind=OutboxKind.SUMMARY_UPDATE,
            channel=summary.channel or row.channel,
            incident_id=incident.id,
            row_ids=[row.id],
            text=summary.slack_text,
            blocks=summary.slack_blocks,
            root_ts=summary.message_ts,
        )


def _summary(session: Session, row: OutboxMessage) -> IncidentSummary | None:
    """The summary to send; a row whose summary is gone (or has nothing to show) fails."""
    summary = summary_of(session, row.incident_id)
    if summary is None or not summary.slack_blocks:
        fail_row(row, "summary missing")
        session.add(row)
        return None
    return summary


def _post_waiting(session: Session, incident_id: int | None) -> bool:
    found = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.incident_id == incident_id,
            OutboxMessage.kind == OutboxKind.SUMMARY_POST,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        )
    ).first()
    return found is not None
