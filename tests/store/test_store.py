"""The store on SQLite and PostgreSQL: migrations, constraints, concurrent writers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, select

from bot.store.engine import make_engine, session_scope
from bot.store.migrate import upgrade
from bot.store.models import Incident
from tests.support.payloads import am_alert, am_payload
from tests.support.store import alerts, incidents, ingest, outbox


def test_migrations_create_every_table_and_are_idempotent(db_url: str, engine: Engine) -> None:
    upgrade(db_url)  # second run: nothing to do, no error
    tables = set(inspect(engine).get_table_names())
    assert {
        "incident",
        "alert",
        "timeline_event",
        "delivery",
        "outbox",
        "alembic_version",
    } <= tables


def test_one_open_incident_per_group_is_enforced_by_the_database(engine: Engine) -> None:
    now = datetime.now(UTC)

    def open_one() -> None:
        with session_scope(engine) as s:
            s.add(Incident(group_key="g", source="test", title="t", opened_at=now))

    open_one()
    with pytest.raises(IntegrityError):
        open_one()
    with session_scope(engine) as s:
        [incident] = s.exec(select(Incident)).all()
        incident.status = "resolved"
    open_one()  # a resolved incident no longer holds the group


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Incident(group_key="g", source="t", title="t", opened_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            s.commit()


def test_fifty_concurrent_writers_lose_nothing_and_never_see_locked(db_url: str) -> None:
    """50 writers at once (as uvicorn's thread pool would): no "database is locked", no lost
    delivery, and still one incident per group even when writers race on the same group."""
    engine = make_engine(db_url, pool_size=50)
    groups = 10
    payloads = [
        am_payload(f"svc-{i % groups}", [am_alert(f"svc-{i % groups}", i)]) for i in range(50)
    ]
    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(lambda p: ingest(engine, p), payloads))
        assert all(r.delivery_id is not None for r in results)
        assert len(alerts(engine)) == 50
        assert len(incidents(engine)) == groups
        assert sum(1 for m in outbox(engine) if m.kind == "root_post") == groups
        assert sum(len(r.incidents_opened) for r in results) == groups
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        engine.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    """A model change without its Alembic migration fails here, on both backends."""
    from alembic import command

    from bot.store.migrate import alembic_config

    command.check(alembic_config(db_url))
