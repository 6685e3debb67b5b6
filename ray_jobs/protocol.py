"""The structured lines a Ray job prints for the bot, and how the bot reads them back.

A structured line is one line of JSON whose first key is ``"opsbot"`` (the record kind):

    {"opsbot": "progress", "done": 3, "total": 10, "unit": "epoch", "metrics": {"loss": 0.31}}
    {"opsbot": "manifest", "path": "/data/model/manifest.json", "manifest": {...}}

Ray may put a prefix in front of a line that a worker printed (``(RayTrainWorker pid=123) ``), so
the reader looks for ``{"opsbot"`` anywhere in the line. Standard library only: the bot imports
this module to parse job logs and has neither torch nor pandas.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PREFIX = '{"opsbot"'
MAX_LINE = 64 * 1024

_decoder = json.JSONDecoder()


def _emit(record: dict[str, Any]) -> None:
    # sys.stdout.write, not print(): Ray Train patches print() on its workers into a logger.
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def emit_progress(
    done: int, total: int, unit: str, metrics: dict[str, float] | None = None
) -> None:
    """Print a progress record: ``done`` of ``total`` ``unit``s, with optional metrics."""
    record: dict[str, Any] = {"opsbot": "progress", "done": done, "total": total, "unit": unit}
    record["metrics"] = {k: float(v) for k, v in (metrics or {}).items()}
    _emit(record)


def emit_manifest(path: str, manifest: dict[str, Any]) -> None:
    """Print the manifest record: where the manifest file is, and its content."""
    _emit({"opsbot": "manifest", "path": path, "manifest": manifest})


def parse_line(line: str) -> dict[str, Any] | None:
    """The structured record in ``line``, or None. Never raises on garbage."""
    if len(line) > MAX_LINE:
        return None
    start = line.find(PREFIX)
    if start < 0:
        return None
    try:
        record, _ = _decoder.raw_decode(line, start)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("opsbot"), str):
        return None
    return record


def latest(log_text: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The last progress record and the last manifest record in a whole job log."""
    progress: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    for line in log_text.splitlines():
        record = parse_line(line)
        if record is None:
            continue
        if record["opsbot"] == "progress":
            progress = record
        elif record["opsbot"] == "manifest":
            manifest = record
    return progress, manifest
