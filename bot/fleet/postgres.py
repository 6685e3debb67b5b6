"""The PostgreSQL coordinator: session advisory locks on one dedicated connection per replica.

One thread owns the connection. It holds the replica's liveness lock for the replica's life,
tries every half second for the kinds it wants and does not hold, sends the wake-ups queued by
``notify`` and delivers the ones other replicas sent (LISTEN/NOTIFY).

A lock is held exactly as long as the session that took it. ``kill -9`` closes the socket and
PostgreSQL ends the session at once; a replica that freezes or is cut off loses its session to
``idle_session_timeout`` (the thread speaks every half second) or to TCP keepalives, so its
work is taken over within ``SESSION_TIMEOUT_S``. A replica whose connection fails stops
leading at once (``leads`` is false) and reconnects.

While a replica has no session it counts as dead, so the runs it is applying may be adopted
elsewhere meanwhile. That is safe for the same reason a restart is: an action's apply()
re-checks the state its plan pinned, so the target is changed at most once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

CHANNEL = "opsbot_wake"
TICK_S = 0.5  # how often free kinds are tried for, and the session shows it is alive
LISTEN_S = 0.05  # the longest a queued wake-up waits to be sent
SESSION_TIMEOUT_S = 6  # a silent session is ended by the server after this long
RETRY_S = 1.0


def key32(name: str) -> int:
    """A stable signed 32-bit key (the two-key form of the advisory lock functions)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


LEAD = key32("opsbot:lead")  # (LEAD, key32(kind)): the leader of one kind of work
REPLICA = key32("opsbot:replica")  # (REPLICA, key32(replica id)): that replica is alive


def psycopg_dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgCoordinator:
    def __init__(self, database_url: str, engine: Engine, replica: str) -> None:
        self.replica = replica
        self._dsn = psycopg_dsn(database_url)
        self._engine = engine
        self._mutex = threading.Lock()
        self._wanted: set[str] = set()
        self._held: set[str] = set()
        self._outgoing: set[str] = set()
        self._callbacks: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False
        self._warned = False

    # -- the Coordinator protocol ----------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="opsbot-fleet", daemon=True)
            self._thread.start()

    def want(self, kind: str) -> None:
        with self._mutex:
            self._wanted.add(kind)

    def release(self, kind: str) -> None:
        with self._mutex:
            self._wanted.discard(kind)

    def leads(self, kind: str) -> bool:
        with self._mutex:
            return kind in self._held and kind in self._wanted

    def leading(self) -> list[str]:
        with self._mutex:
            return sorted(self._held & self._wanted)

    def is_alive(self, replica: str) -> bool:
        if replica == self.replica:
            return True
        try:
            with self._engine.begin() as conn:
                free = conn.execute(
                    text("SELECT pg_try_advisory_xact_lock(:c, :k)"),
                    {"c": REPLICA, "k": key32(replica)},
                ).scalar()
        except SQLAlchemyError:
            return True  # cannot tell: never take work from a replica that may be alive
        return not free

    def notify(self, kind: str) -> None:
        with self._mutex:
            self._outgoing.add(kind)
            callbacks = list(self._callbacks.get(kind, ()))
        for callback in callbacks:  # this replica's own leader hears it at once
            callback()

    def on_wake(self, kind: str, callback: Callable[[], None]) -> None:
        with self._mutex:
            self._callbacks[kind].append(callback)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._mutex:
            self._held.clear()

    # -- the connection thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                with psycopg.connect(
                    self._dsn,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=f"opsbot {self.replica}"[:63],
                    keepalives=1,
                    keepalives_idle=2,
                    keepalives_interval=1,
                    keepalives_count=3,
                ) as conn:
                    self._serve(conn)
            except (psycopg.Error, OSError) as exc:
                self._lost(exc)
            self._closed.wait(RETRY_S)

    def _serve(self, conn: psycopg.Connection[Any]) -> None:
        for setting in (
            f"SET idle_session_timeout = '{SESSION_TIMEOUT_S}s'",
            "SET tcp_keepalives_idle = 2",
            "SET tcp_keepalives_interval = 1",
            "SET tcp_keepalives_count = 3",
        ):
            try:
                conn.execute(setting)
            except psycopg.errors.UndefinedObject:  # before PostgreSQL 14: keepalives only
                log.info("fleet: the server does not know %r; relying on keepalives", setting)
        alive = conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (REPLICA, key32(self.replica))
        ).fetchone()
        if not alive or not alive[0]:
            # Our previous session (cut off, not yet timed out) still holds it: wait for it.
            raise psycopg.OperationalError("this replica's previous session still holds its lock")
        conn.execute(f"LISTEN {CHANNEL}")
        if self._warned:
            log.info("fleet: %s is connected again", self.replica)
        self._connected, self._warned = True, False
        backend = conn.info.backend_pid
        next_tick = 0.0
        while not self._closed.is_set():
            if time.monotonic() >= next_tick:
                self._tick(conn)
                next_tick = time.monotonic() + TICK_S
            self._send_wakeups(conn)
            for note in conn.notifies(timeout=LISTEN_S):
                if note.pid != backend:  # our own wake-ups were delivered locally already
                    self._dispatch(note.payload)
        with self._mutex:
            self._held.clear()

    def _tick(self, conn: psycopg.Connection[Any]) -> None:
        with self._mutex:
            to_take = self._wanted - self._held
            to_drop = self._held - self._wanted
        for kind in to_drop:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LEAD, key32(kind)))
            with self._mutex:
                self._held.discard(kind)
            log.info("fleet: %s handed over %s", self.replica, kind)
        for kind in sorted(to_take):
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LEAD, key32(kind))
            ).fetchone()
            if row and row[0]:
                with self._mutex:
                    self._held.add(kind)
                log.info("fleet: %s now leads %s", self.replica, kind)
        conn.execute("SELECT 1")  # the session speaks: idle_session_timeout spares it

    def _send_wakeups(self, conn: psycopg.Connection[Any]) -> None:
        with self._mutex:
            kinds, self._outgoing = self._outgoing, set()
        for kind in sorted(kinds):
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, kind))

    def _dispatch(self, kind: str) -> None:
        with self._mutex:
            callbacks = list(self._callbacks.get(kind, ()))
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("fleet: wake-up for %s failed", kind)

    def _lost(self, exc: BaseException) -> None:
        with self._mutex:
            had = sorted(self._held)
            self._held.clear()
        self._connected = False
        if had or not self._warned:
            # Which kinds were given up and why; never the DSN (it may carry a password).
            log.warning(
                "fleet: %s has no coordination connection (%s); leading nothing until it "
                "reconnects%s",
                self.replica,
                type(exc).__name__,
                f" (gave up {', '.join(had)})" if had else "",
            )
            self._warned = True
