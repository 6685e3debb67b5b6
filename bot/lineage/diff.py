"""What changed in a dataset between two runs that wrote it. Pure: no database, no clock.

``dataset_diff(previous, current, failed=...)`` returns the JSON-safe dict stored per output
dataset of a finished run (``lineage_change.diff``)::

    {"first_run": False, "failed": False, "inferred": False, "previous_run_id": "…",
     "schema": {"added": ["x"], "removed": ["amount"], "retyped": [{"field", "from", "to"}]},
     "row_count": {"before": 1000, "after": 600, "change_pct": -40.0},
     "version": {"before": "v1", "after": "v2"},
     "current": {"row_count": 600, "version": "v2"}}

``schema``, ``row_count`` and ``version`` are ``None`` when there is nothing to compare (no
previous run, a facet missing on either side, or the version unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """What one run reported about a dataset it wrote."""

    schema: Sequence[dict[str, Any]] | None = None  # [{name, type, fields?}], as schema.py reads
    row_count: int | None = None
    version: str | None = None
    run_id: str | None = None


def flatten_fields(fields: Sequence[dict[str, Any]], prefix: str = "") -> dict[str, str | None]:
    """``{"address.city": "string", ...}``: nested fields named by their path, in order."""
    out: dict[str, str | None] = {}
    for field in fields:
        name = f"{prefix}{field['name']}"
        out.setdefault(name, field.get("type"))
        nested = field.get("fields")
        if nested:
            out.update(
                (k, v) for k, v in flatten_fields(nested, f"{name}.").items() if k not in out
            )
    return out


def _same_type(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True  # an unknown type is no evidence of a change
    return a.strip().lower() == b.strip().lower()


def _outermost(names: list[str]) -> list[str]:
    """Drop ``a.b`` when ``a`` is in the list too: a removed struct is one change, not many."""
    chosen = set(names)
    return [n for n in names if not any(n.startswith(f"{p}.") for p in chosen if p != n)]


def schema_diff(
    before: Sequence[dict[str, Any]] | None, after: Sequence[dict[str, Any]] | None
) -> dict[str, Any] | None:
    """Added, removed and retyped fields; ``None`` when either schema is unknown."""
    if before is None or after is None:
        return None
    old, new = flatten_fields(before), flatten_fields(after)
    added = _outermost([n for n in new if n not in old])
    removed = _outermost([n for n in old if n not in new])
    retyped = [
        {"field": n, "from": old[n], "to": new[n]}
        for n in new
        if n in old and not _same_type(old[n], new[n])
    ]
    return {"added": added, "removed": removed, "retyped": retyped}


def row_count_change(before: int | None, after: int | None) -> dict[str, Any] | None:
    """``{before, after, change_pct}``; the percent is ``None`` when it has no meaning
    (a count unknown, or growth from zero rows)."""
    if before is None and after is None:
        return None
    pct: float | None = None
    if before is not None and after is not None:
        if before == 0:
            pct = 0.0 if after == 0 else None
        else:
            pct = round((after - before) * 100.0 / before, 2)
    return {"before": before, "after": after, "change_pct": pct}


def version_change(before: str | None, after: str | None) -> dict[str, Any] | None:
    """``{before, after}`` when both runs reported a version and they differ."""
    if before is None or after is None or before == after:
        return None
    return {"before": before, "after": after}


def dataset_diff(
    previous: Snapshot | None,
    current: Snapshot | None,
    *,
    failed: bool,
) -> dict[str, Any]:
    """The stored change of one output dataset of a finished run.

    ``previous`` is the last COMPLETE run that wrote the dataset before this one (``None``: the
    first run seen). ``current`` is ``None`` when the run reported no such output and the dataset
    was inferred from the job's earlier runs (a FAIL event without outputs).
    """
    now = current or Snapshot()
    diff: dict[str, Any] = {
        "first_run": previous is None,
        "failed": failed,
        "inferred": current is None,
        "previous_run_id": previous.run_id if previous else None,
        "schema": None,
        "row_count": None,
        "version": None,
        "current": {"row_count": now.row_count, "version": now.version},
    }
    if previous is None or current is None:
        return diff
    diff["schema"] = schema_diff(previous.schema, current.schema)
    diff["row_count"] = row_count_change(previous.row_count, current.row_count)
    diff["version"] = version_change(previous.version, current.version)
    return diff
