"""Appending to an incident's timeline."""

from __future__ import annotations

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
