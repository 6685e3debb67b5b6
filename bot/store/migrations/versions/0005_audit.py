"""audit: the append-only, hash-chained audit log, with triggers that refuse UPDATE and DELETE

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:32:23.805134

The triggers are a guard against mistakes and casual edits, not against the table's owner (who
can drop them): ``opsbot audit verify`` recomputes the hash chain and finds what they let through.
SQLite note: a later ``batch_alter_table`` on ``audit_entry`` recreates the table and loses its
triggers; such a migration must create them again (``_create_triggers`` below).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders AutoString)
from alembic import op

import bot.store.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_TRIGGERS = [
    """
    CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()
    """,
    """
    CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()
    """,
]

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
    BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
    BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only: DELETE refused'); END
    """,
]


def _create_triggers() -> None:
    dialect = op.get_context().dialect.name
    statements = {"postgresql": POSTGRES_TRIGGERS, "sqlite": SQLITE_TRIGGERS}.get(dialect, [])
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('params', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('plan', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('approver', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash', name='uq_audit_entry_hash'),
    sa.UniqueConstraint('seq', name='uq_audit_entry_seq')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entry_subject', ['subject', 'seq'], unique=False)

    _create_triggers()


def downgrade() -> None:
    # Dropping the table drops its triggers (both backends); PostgreSQL's function goes after.
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_subject')

    op.drop_table('audit_entry')
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
