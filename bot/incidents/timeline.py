"""Appending to an incident's timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.store.models import TimelineEvent
from bot.store.types import utcnow


def add(
    session: Session,
    incident_id: int,
    kind: str,
    text: str,
    *,
    at: datetime | None = None,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    event = TimelineEvent(
        incident_id=incident_id,
        kind=kind,
        text=text,
        at=at or utcnow(),
        actor=actor,
        data=data or {},
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class Because:
    """Why an incident moved, as its timeline says it: kind and text, who, when, and details."""

    kind: str
    text: str
    at: datetime | None = None  # when the reason happened (default: the time of the change)
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def record(session: Session, incident_id: int, because: Because, at: datetime) -> TimelineEvent:
    """``because`` on the incident's timeline, at its own time or else ``at``."""
    return add(
        session,
        incident_id,
        because.kind,
        because.text,
        at=because.at or at,
        actor=because.actor,
        data=because.data or None,
    )
