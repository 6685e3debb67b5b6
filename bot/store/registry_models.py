"""The MLflow Model Registry as opsbot saw it (``bot/registry/`` keeps these).

model_registry_event   one row per registry change: a version registered, an alias set, moved or
                       deleted, a tag set; from a webhook delivery or from the poller. The
                       dedupe key is unique, so a redelivery or a second poller records nothing.
model_alias            where each alias of each registered model points now, as far as opsbot
                       knows (``version`` None: deleted). MLflow sends only the new holder of an
                       alias, so the previous one ("moved 7 → 8") is read from here.
model_version_tag      each version's tags as last seen: what the poller diffs against.
model_registry_poll    one row per polled registry (its tracking URI): when the poller's first
                       pass ran (it takes the aliases it finds then as they are, since MLflow
                       keeps no time for an alias) and its last.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class RegistryEventKind:
    VERSION_CREATED = "version_created"
    ALIAS_SET = "alias_set"
    ALIAS_DELETED = "alias_deleted"
    TAG_SET = "tag_set"


class ModelRegistryEvent(SQLModel, table=True):
    __tablename__ = "model_registry_event"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_model_registry_event_key"),
        Index("ix_model_registry_event_model_at", "model", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # "webhook:<X-MLflow-Delivery-Id>", or "poll:<SHA-256 of what changed, from what state>":
    # the same change polled by two replicas, or again after a restart, has one key.
    dedupe_key: str = Field(max_length=200)
    source: str = Field(max_length=16)  # webhook | poll
    model: str = Field(max_length=256)  # the registered model's name
    version: str | None = Field(default=None, max_length=32)  # an alias deleted: its last holder
    event: str = Field(max_length=32)  # RegistryEventKind
    alias: str | None = Field(default=None, max_length=256)
    from_version: str | None = Field(default=None, max_length=32)  # an alias moved from
    tag_key: str | None = Field(default=None, max_length=250)
    tag_value: str | None = Field(default=None, sa_column=Column(Text))
    actor: str | None = Field(default=None, max_length=256)  # only when MLflow says who
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ModelAlias(SQLModel, table=True):
    __tablename__ = "model_alias"

    model: str = Field(primary_key=True, max_length=256)
    alias: str = Field(primary_key=True, max_length=256)
    version: str | None = Field(default=None, max_length=32)  # None: deleted
    # When it last changed, and who said so (webhook | poll): a webhook delivery older than the
    # last one (MLflow delivers from a thread pool, so two quick moves can arrive in either
    # order) does not move it back.
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    source: str = Field(max_length=16)


class ModelVersionTag(SQLModel, table=True):
    __tablename__ = "model_version_tag"

    model: str = Field(primary_key=True, max_length=256)
    version: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=250)
    value: str = Field(sa_column=Column(Text, nullable=False))
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ModelRegistryPoll(SQLModel, table=True):
    __tablename__ = "model_registry_poll"

    # The tracking URI without credentials.
    registry_uri: str = Field(primary_key=True, max_length=512)
    first_pass_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_pass_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
