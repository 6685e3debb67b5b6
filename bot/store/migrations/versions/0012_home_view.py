"""the App Home: who opened it, what was last published to it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_view",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("opened_at", bot.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_hash", sa.String(length=64), nullable=True),
        sa.Column("published_at", bot.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", bot.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_home_view_opened_at", "home_view", ["opened_at"])


def downgrade() -> None:
    op.drop_index("ix_home_view_opened_at", table_name="home_view")
    op.drop_table("home_view")
