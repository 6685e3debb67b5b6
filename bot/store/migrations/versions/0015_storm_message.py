"""alert storms: one message per storm names every new incident of a channel at once

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.types import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "storm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("opened_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("shown_settled", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("storm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storm_status"), ["status"], unique=False)
        # At most one open storm per channel: a second leader edits it, never posts another.
        batch_op.create_index(
            "uq_storm_open_channel",
            ["channel"],
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )
    op.create_table(
        "storm_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("storm_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("listed_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.ForeignKeyConstraint(["storm_id"], ["storm.id"]),
        sa.PrimaryKeyConstraint("id"),
        # An incident is named in one storm message only.
        sa.UniqueConstraint("incident_id", name="uq_storm_entry_incident"),
    )
    with op.batch_alter_table("storm_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storm_entry_storm_id"), ["storm_id"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("storm_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_outbox_storm_id", "storm", ["storm_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_storm_id", type_="foreignkey")
        batch_op.drop_column("storm_id")
    with op.batch_alter_table("storm_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storm_entry_storm_id"))
    op.drop_table("storm_entry")
    with op.batch_alter_table("storm", schema=None) as batch_op:
        batch_op.drop_index("uq_storm_open_channel", sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.drop_index(batch_op.f("ix_storm_status"))
    op.drop_table("storm")
