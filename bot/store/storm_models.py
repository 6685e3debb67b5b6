"""The storm message's state: one message per alert storm in a channel that names every new
incident at once, while their own threads open at Slack's pace (``bot.outbox.storm``).

storm ──< storm_entry   a storm message (its channel, ``ts`` once posted, last edit) and the
                        incidents it lists, each listed once across all storms (unique
                        ``incident_id``); at most one storm is open per channel (unique partial
                        index), so a new outbox leader edits the open one instead of posting
                        a second.

The message itself goes through the outbox like any other (kinds ``storm_post`` and
``storm_update``, rows pointing here by ``outbox.storm_id``), so it is posted once and
settled after a crash the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class StormStatus:
    OPEN = "open"  # listing new incidents; threads still opening
    DONE = "done"  # every listed incident has its thread; the last edit says so
    FAILED = "failed"  # Slack refused the storm message for good


class Storm(SQLModel, table=True):
    __tablename__ = "storm"
    __table_args__ = (
        Index(
            "uq_storm_open_channel",
            "channel",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    status: str = Field(default=StormStatus.OPEN, max_length=16, index=True)
    ts: str | None = Field(default=None, max_length=32)  # the message, once posted
    opened_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    edited_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # What the last render showed: incidents listed, and of them those settled (thread open,
    # or its root refused for good). A difference from now asks for an edit.
    shown: int = 0
    shown_settled: int = 0


class StormEntry(SQLModel, table=True):
    """One incident named in a storm message, in the order they were listed."""

    __tablename__ = "storm_entry"
    __table_args__ = (UniqueConstraint("incident_id", name="uq_storm_entry_incident"),)

    id: int | None = Field(default=None, primary_key=True)
    storm_id: int = Field(foreign_key="storm.id", index=True)
    incident_id: int = Field(foreign_key="incident.id")
    listed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
