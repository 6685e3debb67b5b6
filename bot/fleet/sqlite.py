"""SQLite: the one-process default. One ``opsbot serve`` per database file, and it leads
everything; other processes on the file (``opsbot console``) only do what they are asked.

Both rules rest on ``flock`` locks, which the kernel drops when a process dies, however it dies:
- ``<db>.serve.lock``: held by the one ``serve``; a second one refuses to start;
- ``<db>.replicas/<replica>.lock``: held by each process for its life; a run whose owner's file
  can be locked by someone else belongs to a dead process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from bot.errors import ConfigError

log = logging.getLogger(__name__)


def database_path(database_url: str) -> Path | None:
    """The SQLite file, or None for an in-memory database (nothing to share it with)."""
    name = make_url(database_url).database
    return None if name in (None, "", ":memory:") else Path(name).resolve()


def _try_lock(path: Path) -> IO[str] | None:
    """``path`` opened and locked by this process, or None when another process holds it."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class SoleServer:
    """Holds ``<db>.serve.lock`` for the life of ``opsbot serve``."""

    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def hold_sole_server(database_url: str) -> SoleServer:
    """Refuse (ConfigError, one line) when another ``opsbot serve`` uses this SQLite file."""
    if make_url(database_url).get_backend_name() != "sqlite":
        return SoleServer(None)  # PostgreSQL: as many replicas as you like
    path = database_path(database_url)
    if path is None:
        return SoleServer(None)
    lock_path = path.with_name(path.name + ".serve.lock")
    handle = _try_lock(lock_path)
    if handle is None:
        holder = lock_path.read_text().strip() or "another process"
        raise ConfigError(
            f"another opsbot serve ({holder}) is already using {path}: SQLite is for one "
            "process; stop it, or run several replicas on PostgreSQL "
            "(OPSBOT_DATABASE_URL=postgresql://…)"
        )
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return SoleServer(handle)


class SqliteCoordinator:
    def __init__(self, database_url: str, replica: str) -> None:
        self.replica = replica
        path = database_path(database_url)
        self._dir = path.with_name(path.name + ".replicas") if path is not None else None
        self._handle: IO[str] | None = None
        self._wanted: set[str] = set()
        self._callbacks: dict[str, list[Callable[[], None]]] = {}

    def _file(self, replica: str) -> Path:
        assert self._dir is not None
        return self._dir / (replica.replace("/", "_").replace(":", "_") + ".lock")

    def start(self) -> None:
        if self._dir is None or self._handle is not None:
            return
        self._dir.mkdir(exist_ok=True)
        self._handle = _try_lock(self._file(self.replica))

    def want(self, kind: str) -> None:
        self._wanted.add(kind)

    def release(self, kind: str) -> None:
        self._wanted.discard(kind)

    def leads(self, kind: str) -> bool:
        return kind in self._wanted

    def leading(self) -> list[str]:
        return sorted(self._wanted)

    def is_alive(self, replica: str) -> bool:
        if replica == self.replica:
            return True
        if self._dir is None:
            return False  # an in-memory database: no other process can have written it
        path = self._file(replica)
        if not path.exists():
            return False
        handle = _try_lock(path)
        if handle is None:
            return True
        handle.close()
        with contextlib.suppress(OSError):
            path.unlink()  # a dead process's file: nothing will lock it again
        return False

    def notify(self, kind: str) -> None:
        for callback in self._callbacks.get(kind, ()):
            callback()

    def on_wake(self, kind: str, callback: Callable[[], None]) -> None:
        self._callbacks.setdefault(kind, []).append(callback)

    def close(self) -> None:
        self._wanted.clear()
        if self._handle is not None:
            assert self._dir is not None
            with contextlib.suppress(OSError):
                self._file(self.replica).unlink()
            self._handle.close()
            self._handle = None
