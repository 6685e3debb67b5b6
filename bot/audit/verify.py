"""Checking the audit log: recompute every hash in ``seq`` order and follow the chain.

What it finds, row by row:

- an edited row: its content no longer hashes to its ``hash`` ("hash mismatch");
- an edited row whose ``hash`` was recomputed too: the next row's ``prev_hash`` no longer matches;
- a deleted row: a gap in ``seq``, and a ``prev_hash`` that names no row before it;
- an inserted or reordered row: ``seq`` out of order, an ``id`` lower than the row before it
  (ids are handed out under the same lock as ``seq``), or a broken ``prev_hash`` link.

What a chain alone cannot find: rows deleted from the END (the shorter chain is still a valid
chain), or a log rewritten wholesale with every hash recomputed. The report therefore carries the
head (last ``seq`` and its hash), and ``opsbot audit verify`` prints it: keep that line somewhere
the database's owner cannot edit (a Slack channel, a ticket, the CI log) and pass an earlier head
back as ``anchor`` (``--anchor``): a chain that no longer contains it lost its tail or was
rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from bot.audit.log import GENESIS_HASH, entry_hash
from bot.store.models import AuditEntry

ANCHOR_MIN_LEN = 12
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass
class VerifyReport:
    ok: bool
    rows: int
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0  # the last row's seq (0: empty log)
    head_hash: str = GENESIS_HASH  # the last row's hash: record it outside the database


def check_anchor(anchor: str) -> str:
    """A recorded head hash, or its first 12+ hex digits, lower-cased."""
    value = anchor.strip().lower()
    if len(value) < ANCHOR_MIN_LEN or len(value) > len(GENESIS_HASH) or not _HEX.match(value):
        raise ValueError(
            f"an anchor is {ANCHOR_MIN_LEN} to 64 hex digits of a head hash, not {anchor!r}"
        )
    return value


def _missing(first: int, last: int) -> str:
    return f"seq {first} is missing" if first == last else f"seq {first}..{last} are missing"


def verify(session: Session, *, anchor: str | None = None) -> VerifyReport:
    """Recompute the whole chain; ``anchor`` is an earlier head hash that must still be in it."""
    wanted = check_anchor(anchor) if anchor is not None else None
    anchor_seen = False
    problems: list[str] = []
    rows = 0
    prev: AuditEntry | None = None
    query = (
        select(AuditEntry)
        .order_by(col(AuditEntry.seq), col(AuditEntry.id))
        .execution_options(yield_per=1000)
    )
    for entry in session.exec(query):
        rows += 1
        where = f"row seq {entry.seq} (id {entry.id})"
        try:
            recomputed = entry_hash(entry)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: its content cannot be hashed ({exc}): it was changed")
        else:
            if recomputed != entry.hash:
                problems.append(f"{where}: hash mismatch: content was changed")

        expected_seq = prev.seq + 1 if prev is not None else 1
        if entry.seq > expected_seq:
            problems.append(
                f"{where}: gap in seq: {_missing(expected_seq, entry.seq - 1)} (rows deleted)"
            )
        elif entry.seq < expected_seq:
            problems.append(
                f"{where}: seq out of order: expected seq {expected_seq} "
                "(row inserted or renumbered)"
            )

        if prev is None:
            if entry.prev_hash != GENESIS_HASH:
                problems.append(
                    f"{where}: chain broken: the first row's prev_hash is not the genesis hash "
                    "(rows before it were deleted)"
                )
        else:
            if entry.prev_hash != prev.hash:
                problems.append(
                    f"{where}: chain broken: prev_hash does not match the hash of row seq "
                    f"{prev.seq} (id {prev.id}): a row was deleted, inserted or rewritten"
                )
            if entry.id is not None and prev.id is not None and entry.id < prev.id:
                problems.append(
                    f"{where}: out of order: its id is lower than row seq {prev.seq} "
                    f"(id {prev.id}) before it (row reordered or inserted)"
                )

        if wanted is not None and entry.hash.startswith(wanted):
            anchor_seen = True
        prev = entry
        session.expunge(entry)  # a long log need not stay in the identity map

    if wanted is not None and not anchor_seen:
        problems.append(
            f"anchor {wanted[:ANCHOR_MIN_LEN]} is not in the chain: the rows from it on were "
            "deleted, or the log was rewritten"
        )
    return VerifyReport(
        ok=not problems,
        rows=rows,
        problems=problems,
        head_seq=prev.seq if prev is not None else 0,
        head_hash=prev.hash if prev is not None else GENESIS_HASH,
    )
