"""What a route answers when the database refuses or fails, and what it logs about it.

- a value the database will not take (``DataError``, SQLSTATE class 22), a statement that could
  not be built from the values (``StatementError`` before any database was reached), or a
  constraint still violated after ``run_tx``'s retries (``IntegrityError``, class 23: a race is
  over by then, the content is what collides): the content is at fault, so **400** with the
  reason. A retry would fail the same way, and Alertmanager,
  PagerDuty and the OpenLineage client retry every 5xx forever.
- anything else (connection refused, pool timeout, server shutting down, deadlock past retries):
  the database is unavailable, so **503** with ``Retry-After``.

The log line names the source, the delivery (an id or a hash, never the body), the exception
class and the SQLSTATE. Never ``str(exc)``: SQLAlchemy and the driver put SQL parameters and
rejected values, i.e. alert text that can hold secrets, into it.
"""

from __future__ import annotations

import hashlib
import logging

from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5


def delivery_key(raw: bytes) -> str:
    """A short name for a body in logs: the start of its SHA-256 (the Alertmanager inbox key)."""
    return hashlib.sha256(raw).hexdigest()[:16]


def sqlstate(exc: SQLAlchemyError) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "-")


def content_refused(exc: SQLAlchemyError) -> bool:
    """Whether the database (or the statement's values) refused what was sent, not the server."""
    return isinstance(exc, DataError | IntegrityError) or (
        isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)
    )


def storage_failure(source: str, delivery: str, exc: SQLAlchemyError) -> JSONResponse:
    """The answer to ``exc`` raised while storing or reading ``delivery`` from ``source``."""
    kind, code = type(exc).__name__, sqlstate(exc)
    if content_refused(exc):
        log.warning(
            "%s delivery %s refused: the database rejected a value (%s, SQLSTATE %s)",
            source,
            delivery,
            kind,
            code,
        )
        return JSONResponse(
            {"error": f"a value in this request cannot be stored ({kind}, SQLSTATE {code})"},
            status_code=400,
        )
    log.error(
        "%s delivery %s not stored, answering 503: %s (SQLSTATE %s)", source, delivery, kind, code
    )
    return JSONResponse(
        {"error": "storage unavailable, retry later"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
