"""Alembic environment: opsbot's own engine settings, SQLModel metadata as the target."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import bot.store.freshness_models  # registers the tables
import bot.store.home_models  # (these too)
import bot.store.job_models  # (these too)
import bot.store.models  # (these too)
import bot.store.oncall_models  # (and these)
import bot.store.registry_models  # (and these)
import bot.store.run_models  # (and these)
import bot.store.summary_models  # noqa: F401  (and this)
from bot.store.engine import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Two bots starting at once must not both create the tables.
            connection.exec_driver_sql("SELECT pg_advisory_lock(726354)")
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_unlock(726354)")
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
