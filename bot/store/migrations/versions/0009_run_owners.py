"""run owners: which replica holds an action run or a playbook run while it is applied

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action_run") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=96), nullable=True))
    with op.batch_alter_table("playbook_run") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=96), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("playbook_run") as batch:
        batch.drop_column("owner")
    with op.batch_alter_table("action_run") as batch:
        batch.drop_column("owner")
