"""Logging for every opsbot command: text for people, JSON lines for log pipelines.

``OPSBOT_LOG_FORMAT=json`` writes one JSON object per line (``time``, ``level``, ``logger``,
``message``, and ``exc_info`` when there is one). The ids of what a line is about are fields of
their own, so a log search can follow one delivery or one incident across the fleet:

- ``delivery_id`` and ``incident_id``, taken from the work the thread or task is doing
  (``with about(incident_id=...)``), or given to one call as ``extra={"incident_id": ...}``;
- ``replica``, the fleet member that wrote the line (set once at start).

Text format shows the same ids at the end of the line, ``[incident_id=42]``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Literal, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

# The ids a log line can be about, in the order text lines show them.
ID_FIELDS = ("delivery_id", "incident_id", "run_id", "job_id")

_about: contextvars.ContextVar[dict[str, object]] = contextvars.ContextVar("opsbot_log_about")
_replica: str | None = None
_HANDLER = "opsbot"


@contextlib.contextmanager
def about(**ids: object) -> Iterator[None]:
    """Every line logged inside the block, in this thread or task, carries ``ids``."""
    unknown = set(ids) - set(ID_FIELDS)
    if unknown:
        raise ValueError(f"not a log id field: {sorted(unknown)}")
    merged = {**_about.get({}), **{k: v for k, v in ids.items() if v is not None}}
    token = _about.set(merged)
    try:
        yield
    finally:
        _about.reset(token)


def set_replica(replica: str | None) -> None:
    global _replica
    _replica = replica


class _AddIds(logging.Filter):
    """Copies the ids of the current work onto each record (an explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _about.get({}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if _replica is not None and not hasattr(record, "replica"):
            record.replica = _replica
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k}={getattr(record, k)}" for k in ID_FIELDS if getattr(record, k, None)]
        return f"{line} [{' '.join(ids)}]" if ids else line


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601 in UTC, from the record's own time
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI copy of the message
        json_ensure_ascii=False,
    )


def configure(level: str, fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Root logging for the process; uvicorn's own loggers propagate here (its ``log_config``
    is left unset), so they are in the same format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER)
    handler.addFilter(_AddIds())
    if fmt == "json":
        handler.setFormatter(_json_formatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)  # configured again (tests, the console): replace, never double
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("slack_bolt", "slack_sdk", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
