"""The App Home's one table (``bot/home/`` keeps it).

home_view   one row per Slack user who opened opsbot's App Home: when they last opened it, the
            hash of the content last published to it (and when), and the last failure to publish
            it (a user Slack does not know, the Home tab turned off), after which the refresher
            leaves that user alone for a while instead of trying again every pass.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime


class HomeView(SQLModel, table=True):
    __tablename__ = "home_view"

    user_id: str = Field(primary_key=True, max_length=64)  # a Slack user ID
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # SHA-256 (hex) of the home's content as last published; None before the first publish.
    published_hash: str | None = Field(default=None, max_length=64)
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    failed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    error: str | None = Field(default=None, sa_column=Column(Text))
