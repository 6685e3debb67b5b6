"""A file (the chart) uploaded into an incident's thread, after the replies queued before it.
An upload cannot be looked up afterwards: one that got no answer is sent again."""

from __future__ import annotations

from sqlmodel import Session

from bot.outbox.kinds.base import Call, Look, MessageKind, incident_of
from bot.outbox.rows import Prepared, take
from bot.store.models import Attachment, OutboxKind, OutboxMessage, OutboxStatus


class File(MessageKind):
    kind = OutboxKind.FILE
    call = Call.UPLOAD

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        incident = incident_of(session, row)
        if not incident.slack_ts:
            return None
        assert incident.id is not None
        assert row.id is not None
        attachment = session.get(Attachment, row.attachment_id) if row.attachment_id else None
        if attachment is None:
            row.status = OutboxStatus.FAILED
            row.last_error = "attachment missing"
            session.add(row)
            return None
        session.expunge(attachment)
        take(session, row)
        return Prepared(
            kind=OutboxKind.FILE,
            channel=row.channel,
            incident_id=incident.id,
            row_ids=[row.id],
            text=attachment.title,
            blocks=[],
            thread_ts=incident.slack_ts,
            file=attachment,
        )
