"""Run a unit of work in one transaction, retried when a concurrent writer got there first."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from bot.store.engine import session_scope

log = logging.getLogger(__name__)
T = TypeVar("T")


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_for(session: Session, name: str) -> None:
    """Serialise writers of one logical key (e.g. an alert group) for this transaction.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do, BEGIN IMMEDIATE
    already serialises every writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})


def run_tx(engine: Engine, work: Callable[[Session], T], *, attempts: int = 4) -> T:
    """Run ``work`` in a transaction; retry on unique-constraint races and deadlocks.

    ``work`` must be safe to re-run from scratch: everything it wrote was rolled back.
    """
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(engine) as session:
                return work(session)
        except IntegrityError as exc:
            if attempt == attempts:
                raise
            # Not the message: it quotes the conflicting values (alert text).
            code = getattr(exc.orig, "sqlstate", None)
            log.info("transaction conflict (SQLSTATE %s), retrying (attempt %s)", code, attempt)
        except OperationalError as exc:
            # PostgreSQL deadlock / serialisation failure: worth a retry; a dead server is not.
            code = getattr(exc.orig, "sqlstate", None)
            if code not in ("40P01", "40001") or attempt == attempts:
                raise
            log.info("transaction %s, retrying (attempt %s)", code, attempt)
    raise AssertionError("unreachable")
