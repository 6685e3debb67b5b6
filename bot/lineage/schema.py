"""The OpenLineage RunEvent (spec 2-0-x) as producers send it, and the facets opsbot reads.

The fields that identify an event are checked strictly: ``eventType``, ``eventTime`` (with a
timezone), ``run.runId`` (a UUID), ``job.namespace``, ``job.name``, ``producer``, ``schemaURL``.
Facets are open-ended dicts: the few opsbot reads (schema, dataset version, output statistics,
data-quality metrics and assertions, error message) are read leniently by the ``read_*``
functions, which return ``None`` for a facet they cannot make sense of instead of refusing the
event.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from bot.errors import IntakeError
from bot.intake.json_body import load_json, validation_reason
from bot.intake.times import PastTime

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]
TERMINAL_STATES = frozenset({"COMPLETE", "FAIL", "ABORT"})
FAILED_STATES = frozenset({"FAIL", "ABORT"})

MAX_NAME_BYTES = 1000  # namespaces and names are indexed: PostgreSQL caps an index row at 2.7 kB
MAX_FIELDS = 2000  # schema fields read per level
MAX_FIELD_DEPTH = 8
MAX_COLUMNS = 500  # data-quality column metrics and assertions kept
MAX_TEXT = 2000  # error messages


def _identifier(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"must be at most {MAX_NAME_BYTES} bytes")
    return value


def _none_as(empty: Any) -> Any:
    def convert(value: Any) -> Any:
        return empty() if value is None else value

    return convert


Identifier = Annotated[str, AfterValidator(_identifier)]
Facets = Annotated[dict[str, Any], BeforeValidator(_none_as(dict))]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Job(_Part):
    namespace: Identifier
    name: Identifier
    facets: Facets = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class Run(_Part):
    runId: UUID
    facets: Facets = Field(default_factory=dict)


class Dataset(_Part):
    namespace: Identifier
    name: Identifier
    facets: Facets = Field(default_factory=dict)


class InputDataset(Dataset):
    inputFacets: Facets = Field(default_factory=dict)


class OutputDataset(Dataset):
    outputFacets: Facets = Field(default_factory=dict)


class RunEvent(_Part):
    """One run event; ``inputs``/``outputs`` may be partial, later events add to them."""

    eventType: EventType
    eventTime: PastTime
    run: Run
    job: Job
    producer: Identifier
    schemaURL: Identifier
    inputs: Annotated[list[InputDataset], BeforeValidator(_none_as(list))] = Field(
        default_factory=list
    )
    outputs: Annotated[list[OutputDataset], BeforeValidator(_none_as(list))] = Field(
        default_factory=list
    )

    @property
    def run_id(self) -> str:
        return str(self.run.runId)


def parse_event(raw: bytes) -> RunEvent | None:
    """``raw`` as a RunEvent; ``None`` for a static DatasetEvent or JobEvent (nothing to store);
    ``IntakeError(400)`` saying what is wrong and where."""
    data: Any = load_json(raw)
    if not isinstance(data, dict):
        raise IntakeError(400, "invalid OpenLineage event: expected a JSON object")
    if "run" not in data and "eventType" not in data and ("dataset" in data or "job" in data):
        return None
    try:
        return RunEvent.model_validate(data)
    except ValidationError as exc:
        raise IntakeError(400, validation_reason(exc, "invalid OpenLineage event")) from None


# ── Facets, read leniently ─────────────────────────────────────────────────────────────────────


def _count(value: Any) -> int | None:
    """A non-negative integer count, or None (booleans, strings and NaN are not counts)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value < 2**63:
        return value
    return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _text(value: Any, limit: int = 256) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    return value[:limit]


def _fields(items: list[Any], depth: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items[:MAX_FIELDS]:
        if not isinstance(item, dict):
            continue
        name = _text(item.get("name"))
        if name is None:
            continue
        entry: dict[str, Any] = {"name": name, "type": _text(item.get("type"))}
        nested = item.get("fields")
        if isinstance(nested, list) and nested and depth < MAX_FIELD_DEPTH:
            entry["fields"] = _fields(nested, depth + 1)
        out.append(entry)
    return out


def read_schema(facet: Any) -> list[dict[str, Any]] | None:
    """``SchemaDatasetFacet.fields`` as ``[{name, type, fields?}]``."""
    if not isinstance(facet, dict) or not isinstance(facet.get("fields"), list):
        return None
    return _fields(facet["fields"], 0)


def read_version(facet: Any) -> str | None:
    """``DatasetVersionDatasetFacet.datasetVersion``."""
    return _text(facet.get("datasetVersion")) if isinstance(facet, dict) else None


def read_statistics(facet: Any) -> tuple[int | None, int | None] | None:
    """``(rowCount, size)`` of ``OutputStatisticsOutputDatasetFacet`` (or the input one)."""
    if not isinstance(facet, dict):
        return None
    return _count(facet.get("rowCount")), _count(facet.get("size"))


def read_quality_metrics(facet: Any) -> dict[str, Any] | None:
    """``DataQualityMetrics*DatasetFacet``: rowCount, bytes and per-column numbers."""
    if not isinstance(facet, dict):
        return None
    columns: dict[str, dict[str, Any]] = {}
    raw_columns = facet.get("columnMetrics")
    if isinstance(raw_columns, dict):
        for column, metrics in list(raw_columns.items())[:MAX_COLUMNS]:
            if not isinstance(metrics, dict):
                continue
            numbers = {
                k: v
                for k in ("nullCount", "distinctCount", "sum", "count", "min", "max")
                if (v := _number(metrics.get(k))) is not None
            }
            columns[str(column)[:256]] = numbers
    return {
        "rowCount": _count(facet.get("rowCount")),
        "bytes": _count(facet.get("bytes")),
        "columnMetrics": columns,
    }


def read_assertions(facet: Any) -> list[dict[str, Any]] | None:
    """``DataQualityAssertionsDatasetFacet.assertions`` as ``[{assertion, success, column}]``."""
    if not isinstance(facet, dict) or not isinstance(facet.get("assertions"), list):
        return None
    out = []
    for item in facet["assertions"][:MAX_COLUMNS]:
        if isinstance(item, dict) and _text(item.get("assertion")) is not None:
            out.append(
                {
                    "assertion": _text(item.get("assertion")),
                    "success": item.get("success") is True,
                    "column": _text(item.get("column")),
                }
            )
    return out


def read_error_message(facet: Any) -> str | None:
    """``ErrorMessageRunFacet.message``, cut to a readable length."""
    return _text(facet.get("message"), MAX_TEXT) if isinstance(facet, dict) else None
