"""on call: the incident lead and on-call person, and Alertmanager silences per incident

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("lead", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("oncall", sa.String(length=128), nullable=True))
    op.create_table(
        "silence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("silence_id", sa.String(length=64), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expired_at", bot.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expired_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("silence_id"),
    )
    op.create_index("ix_silence_incident_id", "silence", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_silence_incident_id", table_name="silence")
    op.drop_table("silence")
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("oncall")
        batch.drop_column("lead")
