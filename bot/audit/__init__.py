"""The audit log: append-only, hash-chained, one row per audited event (who, what, when, result).

append(session, actor=..., event=..., subject=..., ...)   add a row in the caller's transaction
read(session, subject=..., after_seq=..., limit=...)      rows in chain order
verify(session, anchor=...)                               recompute the chain: VerifyReport
with origin(typed_by=..., acted_as=...): ...             entries inside record where they came from
"""

from bot.audit.log import GENESIS_HASH, append, entry_hash, last_entry, origin, read
from bot.audit.verify import VerifyReport, verify

__all__ = [
    "GENESIS_HASH",
    "VerifyReport",
    "append",
    "entry_hash",
    "last_entry",
    "origin",
    "read",
    "verify",
]
