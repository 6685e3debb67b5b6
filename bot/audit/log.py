"""Writing and reading the audit log: one hash-chained row per audited event.

Each row's ``hash`` is the SHA-256 of a canonical JSON document (sorted keys, no whitespace,
datetimes as ISO 8601 UTC with microseconds) holding every column but ``id`` and ``hash``; that
includes ``prev_hash``, the ``hash`` of the row before (64 zeros for the first). Changing, removing
or inserting a row therefore breaks the chain where it happened; ``bot/audit/verify.py`` finds it.

The log is append-only: this module has no update or delete, and the migration adds triggers that
refuse both in the database.

Where a request came from, when the actor alone does not say it: inside ``with origin(...)``
every entry appended (in this thread, or in work it hands to a copied context) carries those
fields under ``result["origin"]``, covered by the hash like the rest. ``opsbot console`` records
who typed (``console:<os user>``) next to the Slack user they acted as.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.store.models import AuditEntry
from bot.store.tx import lock_for
from bot.store.types import utcnow

GENESIS_HASH = "0" * 64
CHAIN_LOCK = "audit-chain"

# The columns the hash covers, in no particular order (the canonical form sorts them).
HASHED_FIELDS = (
    "seq",
    "at",
    "actor",
    "event",
    "subject",
    "action",
    "params",
    "plan",
    "approver",
    "result",
    "prev_hash",
)


_ORIGIN: ContextVar[dict[str, str] | None] = ContextVar("audit_origin", default=None)


@contextmanager
def origin(**fields: str) -> Iterator[None]:
    """Entries appended inside record ``fields`` as ``result["origin"]`` (see the module doc)."""
    token = _ORIGIN.set(dict(fields))
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: the audit log records UTC-aware datetimes only")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(doc: Any) -> str:
    """Sorted keys, no whitespace, datetimes as ISO UTC; NaN and infinities refused."""
    return json.dumps(
        doc,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def _as_stored(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The value as it will read back from a JSON column (keys as strings, tuples as lists...),
    so that the hash written now is the hash recomputed later."""
    if value is None:
        return None
    stored = json.loads(canonical_json(dict(value)))
    assert isinstance(stored, dict)
    return stored


def entry_hash(entry: AuditEntry) -> str:
    """The hash of one row's content and its ``prev_hash``, as append wrote it."""
    doc = {name: getattr(entry, name) for name in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def last_entry(session: Session) -> AuditEntry | None:
    """The head of the chain (highest ``seq``), or None while the log is empty."""
    return session.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(1)).first()


def append(
    session: Session,
    *,
    actor: str,
    event: str,
    subject: str,
    action: str | None = None,
    params: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
    approver: str | None = None,
    result: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one row at the head of the chain, in the caller's transaction.

    Call it inside ``session_scope`` / ``run_tx``: appenders are serialised for the rest of the
    transaction (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE already did), so keep the
    transaction short. If two appenders still collide, the unique ``seq`` refuses one and
    ``run_tx`` runs it again.
    """
    when = at if at is not None else utcnow()
    if when.tzinfo is None:
        raise ValueError("naive datetime refused: the audit log records UTC-aware datetimes only")
    came_from = _ORIGIN.get()
    if came_from is not None:
        result = {**(result or {}), "origin": came_from}
    lock_for(session, CHAIN_LOCK)
    last = last_entry(session)
    entry = AuditEntry(
        seq=last.seq + 1 if last is not None else 1,
        at=when.astimezone(UTC),
        actor=actor,
        event=event,
        subject=subject,
        action=action,
        params=_as_stored(params),
        plan=_as_stored(plan),
        approver=approver,
        result=_as_stored(result),
        prev_hash=last.hash if last is not None else GENESIS_HASH,
        hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


def read(
    session: Session,
    *,
    subject: str | None = None,
    after_seq: int = 0,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Rows in chain order (``seq``), optionally of one subject and after a known ``seq``."""
    query = select(AuditEntry).where(col(AuditEntry.seq) > after_seq)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    query = query.order_by(col(AuditEntry.seq))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())
