"""Engines for SQLite (embedded default) and PostgreSQL, tuned for many concurrent writers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "opsbot_write"
_WRITE_LOCKS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would otherwise look for psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
        hide_parameters=True,  # no SQL parameters (alert text) in error messages
    )


def _sqlite_engine(url: str) -> Engine:
    in_memory = make_url(url).database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        "hide_parameters": True,
    }
    if in_memory:
        # One shared connection, or every session would see its own empty database.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    _WRITE_LOCKS[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction (session_scope) takes SQLite's write lock up front with BEGIN
        # IMMEDIATE, so it never has to upgrade from reader to writer mid-transaction -- the
        # upgrade is what fails with "database is locked" in WAL mode, without waiting for
        # busy_timeout. Reads begin deferred: in WAL mode they neither block nor wait.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One write transaction: commit on success, roll back on any error.

    On SQLite, writers of this process take turns on a lock first: SQLite allows one writer at a
    time anyway, and a waiter on the lock wakes the moment it is free, where a waiter on SQLite's
    busy handler polls with sleeps of up to 100 ms (which is what made tail latency seconds long).
    """
    lock = _WRITE_LOCKS.get(engine)
    with (
        lock if lock is not None else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
    ):
        session.connection(execution_options={WRITE_OPTION: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
