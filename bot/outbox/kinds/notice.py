"""A message of its own in a channel other than the incident's: a status update for the
service's stakeholders. Posted once, top-level, with the text and blocks of its row."""

from __future__ import annotations

from sqlmodel import Session

from bot.outbox.kinds.base import Look, MessageKind
from bot.outbox.rows import Prepared, take
from bot.store.models import OutboxKind, OutboxMessage


class Notice(MessageKind):
    kind = OutboxKind.NOTICE

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        assert row.id is not None
        take(session, row)
        return Prepared(
            kind=row.kind,
            channel=row.channel,
            incident_id=row.incident_id,
            row_ids=[row.id],
            text=row.text,
            blocks=list(row.blocks),
        )
