"""A reply in an incident's thread: waits for the root's ``ts``; the replies waiting for the same
thread are merged into one message, up to Block Kit's limits, so a storm cannot flood it.

A reply takes along only the replies queued after it that are as urgent (``priority`` no
higher): an interactive reply that overtakes informational ones (``bot.outbox.sender``) must not
carry informational replies queued after them past them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from bot.outbox.kinds.base import Look, MessageKind, incident_of, thread_of_incident
from bot.outbox.rows import Prepared
from bot.store.models import OutboxKind, OutboxMessage, OutboxStatus, table

MAX_BLOCKS_PER_MESSAGE = 50


class Reply(MessageKind):
    kind = OutboxKind.REPLY

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        incident = incident_of(session, row)
        if not incident.slack_ts:
            return None
        assert incident.id is not None
        outbox = table(OutboxMessage)
        queued = session.execute(
            select(outbox.c.id, outbox.c.text, outbox.c.blocks)
            .where(
                outbox.c.incident_id == incident.id,
                outbox.c.kind == OutboxKind.REPLY,
                outbox.c.status == OutboxStatus.PENDING,
                outbox.c.id >= row.id,
                outbox.c.priority <= row.priority,
            )
            .order_by(outbox.c.id)
            .limit(50)
        ).all()
        row_ids: list[int] = []
        blocks: list[dict[str, Any]] = []
        texts: list[str] = []
        for row_id, row_text, row_blocks in queued:
            if row_ids and len(blocks) + len(row_blocks) > MAX_BLOCKS_PER_MESSAGE:
                break
            row_ids.append(row_id)
            blocks.extend(row_blocks)
            texts.append(row_text)
        session.execute(
            update(outbox)
            .where(outbox.c.id.in_(row_ids))
            .values(status=OutboxStatus.SENDING, attempts=outbox.c.attempts + 1)
        )
        text = texts[0] if len(texts) == 1 else f"{len(texts)} updates: " + "; ".join(texts)
        return Prepared(
            kind=OutboxKind.REPLY,
            channel=row.channel,
            incident_id=incident.id,
            row_ids=row_ids,
            text=text[:3000],
            blocks=blocks,
            thread_ts=incident.slack_ts,
        )

    def thread_of(self, session: Session, row: OutboxMessage) -> str | None:
        return thread_of_incident(session, row)
