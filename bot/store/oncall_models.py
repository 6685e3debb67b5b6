"""The on-call moves' own rows: Alertmanager silences opsbot created for an incident, and the
follow-ups people noted.

silence   one Alertmanager v2 silence, created from an incident's thread (``silence_alerts``):
          Alertmanager's id, the matchers it was made with, its window, who made it and who
          expired it. The root shows the incident's active silence; ``/ops unsilence`` (or the
          button) expires it in Alertmanager and here.
follow_up one ``follow-up:`` / ``todo:`` / ``action item:`` note, tracked with an owner and a
          state (open → done) until someone marks it done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class Silence(SQLModel, table=True):
    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    silence_id: str = Field(max_length=64, unique=True)  # Alertmanager's id (a UUID)
    matchers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=128)
    comment: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    expired_by: str | None = Field(default=None, max_length=128)


class FollowUpState:
    OPEN = "open"
    DONE = "done"


class FollowUp(SQLModel, table=True):
    """A ``follow-up:`` / ``todo:`` / ``action item:`` note, tracked until someone marks it done.
    Made from the note's timeline event (at most one item per event)."""

    __tablename__ = "follow_up"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="timeline_event.id", unique=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    owner: str | None = Field(default=None, max_length=128)  # a Slack user ID, when named
    state: str = Field(default=FollowUpState.OPEN, max_length=16, index=True)
    created_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    done_by: str | None = Field(default=None, max_length=128)
