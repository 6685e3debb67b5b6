"""Putting Slack messages in the outbox, inside the caller's transaction.

Root posts and root edits carry no content: the sender renders the incident as it is when the
message goes out, so the root always shows the current state and queued edits collapse into one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from bot.store.models import Incident, OutboxKind, OutboxMessage, OutboxStatus
from bot.store.types import utcnow


def enqueue_root_post(session: Session, incident: Incident, channel: str) -> None:
    assert incident.id is not None
    incident.slack_channel = channel
    session.add(OutboxMessage(incident_id=incident.id, channel=channel, kind=OutboxKind.ROOT_POST))


def enqueue_root_update(session: Session, incident: Incident) -> None:
    """Ask for the root to be redrawn, unless a redraw (or the first post) is already waiting."""
    assert incident.id is not None
    if incident.slack_channel is None:
        return
    # Touch the incident row first: its row lock orders this transaction against the sender,
    # which locks the same row before it renders, so no state change can slip between them.
    incident.updated_at = utcnow()
    session.add(incident)
    session.flush()
    waiting = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.incident_id == incident.id,
            OutboxMessage.kind.in_([OutboxKind.ROOT_POST, OutboxKind.ROOT_UPDATE]),  # type: ignore[attr-defined]
            OutboxMessage.status == OutboxStatus.PENDING,
        )
    ).first()
    if waiting is None:
        session.add(
            OutboxMessage(
                incident_id=incident.id, channel=incident.slack_channel, kind=OutboxKind.ROOT_UPDATE
            )
        )


def enqueue_reply(
    session: Session, incident: Incident, text: str, blocks: list[dict[str, Any]]
) -> None:
    assert incident.id is not None
    if incident.slack_channel is None:
        return
    session.add(
        OutboxMessage(
            incident_id=incident.id,
            channel=incident.slack_channel,
            kind=OutboxKind.REPLY,
            text=text,
            blocks=blocks,
        )
    )


def outbox_depth(session: Session) -> int:
    return session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])  # type: ignore[attr-defined]
        )
    ).one()
