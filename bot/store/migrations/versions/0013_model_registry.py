"""the MLflow Model Registry: its events, where each alias points, version tags, poller passes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_registry_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=256), nullable=True),
        sa.Column("from_version", sa.String(length=32), nullable=True),
        sa.Column("tag_key", sa.String(length=250), nullable=True),
        sa.Column("tag_value", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=True),
        sa.Column("at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_model_registry_event_key"),
    )
    op.create_index("ix_model_registry_event_model_at", "model_registry_event", ["model", "at"])
    op.create_table(
        "model_alias",
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("changed_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("model", "alias"),
    )
    op.create_table(
        "model_version_tag",
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("changed_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "version", "key"),
    )
    op.create_table(
        "model_registry_poll",
        sa.Column("registry_uri", sa.String(length=512), nullable=False),
        sa.Column("first_pass_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_pass_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("registry_uri"),
    )


def downgrade() -> None:
    op.drop_table("model_registry_poll")
    op.drop_table("model_version_tag")
    op.drop_table("model_alias")
    op.drop_index("ix_model_registry_event_model_at", table_name="model_registry_event")
    op.drop_table("model_registry_event")
