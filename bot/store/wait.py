"""Waiting for the database at start: a pod often starts before its database answers.

``opsbot serve`` tries with backoff (1 s, 2 s, 4 s … at most 10 s apart), one log line per try,
for at most ``OPSBOT_DB_WAIT_S``; then it stops with one line saying what it could not reach and
why. The URL in those lines never carries the password.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import ConfigError
from bot.store.engine import make_engine

log = logging.getLogger(__name__)

MAX_PAUSE_S = 10.0


def reason(exc: SQLAlchemyError) -> str:
    """The driver's first line (``connection refused``…), never the SQL or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}"[:300]


def wait_for_database(database_url: str, limit_s: float) -> None:
    where = make_url(database_url).render_as_string(hide_password=True)
    engine = make_engine(database_url, pool_size=1)
    deadline = time.monotonic() + limit_s
    pause, attempt = 1.0, 1
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except SQLAlchemyError as exc:
                why = reason(exc)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConfigError(
                        f"cannot reach the database at {where} after {limit_s:g} s ({why}); "
                        "check OPSBOT_DATABASE_URL and that the database is up"
                    ) from None
                wait = min(pause, left)
                log.warning(
                    "database at %s not reachable (try %s: %s); next try in %.0f s",
                    where,
                    attempt,
                    why,
                    wait,
                )
                time.sleep(wait)
                pause, attempt = min(pause * 2, MAX_PAUSE_S), attempt + 1
    finally:
        engine.dispose()
