"""lineage: OpenLineage run events, runs, their datasets, and per-dataset changes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:28:40.330987
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders AutoString)
from alembic import op

import bot.store.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lineage_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('event_time', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('producer', sa.Text(), nullable=False),
    sa.Column('received_at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'event_type', 'event_time', name='uq_lineage_event')
    )
    op.create_table('lineage_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('job_namespace', sa.Text(), nullable=False),
    sa.Column('job_name', sa.Text(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('state_at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', bot.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', bot.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_event_at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_event_at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('producer', sa.Text(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('facets', sa.JSON(), nullable=False),
    sa.Column('facet_times', sa.JSON(), nullable=False),
    sa.Column('updated_at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', name='uq_lineage_run_id')
    )
    with op.batch_alter_table('lineage_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lineage_run_ended_at'), ['ended_at'], unique=False)
        batch_op.create_index('ix_lineage_run_job', ['job_namespace', 'job_name'], unique=False)

    op.create_table('lineage_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_pk', sa.Integer(), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('namespace', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('job', sa.Text(), nullable=False),
    sa.Column('at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('first_run', sa.Boolean(), nullable=False),
    sa.Column('diff', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_pk'], ['lineage_run.id'], name='fk_lineage_change_run'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_pk', 'namespace', 'name', name='uq_lineage_change')
    )
    with op.batch_alter_table('lineage_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lineage_change_at'), ['at'], unique=False)
        batch_op.create_index('ix_lineage_change_key_at', ['namespace', 'name', 'at'], unique=False)

    op.create_table('lineage_run_dataset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_pk', sa.Integer(), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('namespace', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('schema_fields', sa.JSON(), nullable=True),
    sa.Column('version', sa.Text(), nullable=True),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('quality_metrics', sa.JSON(), nullable=True),
    sa.Column('quality_assertions', sa.JSON(), nullable=True),
    sa.Column('facets', sa.JSON(), nullable=False),
    sa.Column('facet_times', sa.JSON(), nullable=False),
    sa.Column('updated_at', bot.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_pk'], ['lineage_run.id'], name='fk_lineage_run_dataset_run'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_pk', 'direction', 'namespace', 'name', name='uq_lineage_run_dataset')
    )
    with op.batch_alter_table('lineage_run_dataset', schema=None) as batch_op:
        batch_op.create_index('ix_lineage_run_dataset_key', ['namespace', 'name', 'direction'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('lineage_run_dataset', schema=None) as batch_op:
        batch_op.drop_index('ix_lineage_run_dataset_key')

    op.drop_table('lineage_run_dataset')
    with op.batch_alter_table('lineage_change', schema=None) as batch_op:
        batch_op.drop_index('ix_lineage_change_key_at')
        batch_op.drop_index(batch_op.f('ix_lineage_change_at'))

    op.drop_table('lineage_change')
    with op.batch_alter_table('lineage_run', schema=None) as batch_op:
        batch_op.drop_index('ix_lineage_run_job')
        batch_op.drop_index(batch_op.f('ix_lineage_run_ended_at'))

    op.drop_table('lineage_run')
    op.drop_table('lineage_event')
