"""What opsbot keeps to watch datasets' freshness (``bot/incidents/freshness_flow.py``).

dataset_watch   one row per dataset the catalog gives a freshness objective: when opsbot began
                watching it. A dataset with no successful run yet is measured from then, so a
                new catalog entry does not page at once, and one that never arrives does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime


class DatasetWatch(SQLModel, table=True):
    __tablename__ = "dataset_watch"
    __table_args__ = (UniqueConstraint("namespace", "name", name="uq_dataset_watch"),)

    id: int | None = Field(default=None, primary_key=True)
    namespace: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    first_watched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
