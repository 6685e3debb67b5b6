"""The coordinator a replica holds: who it is, what it leads, who else is alive, wake-ups.

Kinds of background work (one leader each): ``outbox`` (Slack sending), ``enrich``, ``jobs``
(Ray job tracking), ``summaries``, ``runs`` (adopting action and playbook runs of dead
replicas), ``reminders`` (status updates due), ``homes`` (App Home tabs kept current); and,
where configured, ``registry`` (the MLflow poller) and ``freshness`` (datasets' freshness checks).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

KINDS = ("outbox", "enrich", "jobs", "summaries", "runs", "reminders", "homes")


def new_replica_id() -> str:
    """Unique per process start: host, pid and a random part (a pid is reused after restarts)."""
    host = socket.gethostname().split(".")[0][:40]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Coordinator(Protocol):
    replica: str

    def start(self) -> None:
        """Take this replica's liveness; begin trying for the kinds it wants. Never blocks on
        a database that is down: it keeps trying in the background."""

    def want(self, kind: str) -> None:
        """Try to lead ``kind`` (now and whenever it is free)."""

    def release(self, kind: str) -> None:
        """Stop leading ``kind`` and stop trying (drain)."""

    def leads(self, kind: str) -> bool: ...

    def leading(self) -> list[str]: ...

    def is_alive(self, replica: str) -> bool:
        """Whether the replica that wrote ``owner`` still runs (its liveness lock is held)."""

    def notify(self, kind: str) -> None:
        """Rows for ``kind`` were committed: wake its leader, in this process or another."""

    def on_wake(self, kind: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) when some replica notifies ``kind``."""

    def close(self) -> None:
        """Give up everything: leadership and liveness (the last step of a shutdown)."""


def coordinator_for(database_url: str, engine: Engine, replica: str | None = None) -> Coordinator:
    replica = replica or new_replica_id()
    if make_url(database_url).get_backend_name() == "sqlite":
        from bot.fleet.sqlite import SqliteCoordinator

        return SqliteCoordinator(database_url, replica)
    from bot.fleet.postgres import PgCoordinator

    return PgCoordinator(database_url, engine, replica)
