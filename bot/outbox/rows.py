"""Outbox rows as the sender handles them: what is due, what is about to be sent (with the rows
riding on it), and the UPDATEs that settle rows (sent, merged, failed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col

from bot.store.models import Attachment, OutboxMessage, OutboxPriority, OutboxStatus, table
from bot.store.types import utcnow

log = logging.getLogger(__name__)

# What a pass keeps in order: an incident's thread, a job outside any incident, or a storm
# message.
OrderKey = int | tuple[str, int | None]


@dataclass(frozen=True)
class Due:
    id: int
    channel: str
    incident_id: int | None
    kind: str
    job_run_id: int | None = None
    priority: int = OutboxPriority.INFORMATIONAL
    storm_id: int | None = None

    @property
    def interactive(self) -> bool:
        return self.priority <= OutboxPriority.INTERACTIVE

    @property
    def key(self) -> OrderKey:
        if self.storm_id is not None:
            return ("storm", self.storm_id)
        return self.incident_id if self.incident_id is not None else ("job", self.job_run_id)


@dataclass
class Prepared:
    """A message ready to send: what to call, with which rows riding on it."""

    kind: str
    channel: str
    incident_id: int | None
    row_ids: list[int]
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    root_ts: str | None = None  # an edit: the message to edit
    file: Attachment | None = None  # kind "file": what to upload
    job_run_id: int | None = None  # kinds "job_*"
    storm_id: int | None = None  # kinds "storm_*"

    @property
    def subject(self) -> str:
        """Whose message this is, for the log."""
        if self.job_run_id is not None:
            return f"job {self.job_run_id}"
        if self.storm_id is not None:
            return f"storm {self.storm_id}"
        return f"incident {self.incident_id}"


def merge_waiting(session: Session, row_id: int, *where: ColumnElement[bool]) -> None:
    """The pending rows matching ``where`` ride on row ``row_id``: one UPDATE (a storm leaves
    hundreds of them; loading each as an object held the GIL for long)."""
    session.execute(
        update(table(OutboxMessage))
        .where(
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.id) != row_id,
            *where,
        )
        .values(status=OutboxStatus.MERGED, sent_at=utcnow())
    )


def take_riders(session: Session, *where: ColumnElement[bool]) -> list[int]:
    """The pending rows matching ``where`` ride on the message being sent (an edit queued before
    its post: the post shows the current state): ``sending`` with it; their ids, in order."""
    outbox = table(OutboxMessage)
    riders = session.execute(
        update(outbox)
        .where(outbox.c.status == OutboxStatus.PENDING, *where)
        .values(status=OutboxStatus.SENDING, attempts=outbox.c.attempts + 1)
        .returning(outbox.c.id)
    ).scalars()
    return sorted(riders)


def take(session: Session, row: OutboxMessage) -> None:
    """The row is being handed to Slack: ``sending`` until the answer is recorded."""
    row.status = OutboxStatus.SENDING
    row.attempts += 1
    session.add(row)


def fail_row(row: OutboxMessage, reason: str) -> None:
    row.status = OutboxStatus.FAILED
    row.last_error = reason
    log.error("outbox %s (%s): %s", row.id, row.kind, reason)


def fail_waiting(session: Session, where: ColumnElement[bool], reason: str) -> None:
    session.execute(
        update(table(OutboxMessage))
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING, where)
        .values(status=OutboxStatus.FAILED, last_error=reason[:2000])
    )


def mark_sent(session: Session, row_ids: list[int], ts: str) -> None:
    """The first row is the message that was sent; the others rode on it (merged)."""
    now = utcnow()
    outbox = table(OutboxMessage)
    first, rest = row_ids[0], row_ids[1:]
    values = {"ts": ts, "sent_at": now, "last_error": None}
    session.execute(
        update(outbox).where(outbox.c.id == first).values(status=OutboxStatus.SENT, **values)
    )
    if rest:
        session.execute(
            update(outbox).where(outbox.c.id.in_(rest)).values(status=OutboxStatus.MERGED, **values)
        )
