"""The values enrichment passes around: change events, metric series, and what became of a source.

Every source (deploy events, Kubernetes rollouts, lineage, Prometheus) turns what it found into
these, so ranking, the chart and the Slack reply never look at a vendor's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ChangeKind = Literal["code", "model", "data"]
# How the change relates to the incident's service (bot/enrich/relations.py). ``other_service``
# is a change with no relation to it: shown as context, never ranked as a suspect.
Relation = Literal[
    "same_service", "input_dataset", "upstream_dataset", "dependency", "other_service"
]
BadDirection = Literal["up", "down", "any"]


@dataclass(frozen=True)
class ChangeEvent:
    """Something that changed at a point in time: a deploy, a model version, a data change."""

    kind: ChangeKind
    ref: str  # what changed, in words a person recognises: "fraud-scorer 1.4.2", "warehouse/tx"
    service: str | None  # the service it belongs to (None for a dataset nobody claims)
    at: datetime  # aware UTC
    source: str  # "deploy_event", "kubernetes", "lineage"
    summary: str  # one line, e.g. "model fraud-scorer 1.4.2 deployed by ci"
    relation: Relation = "same_service"
    # Magnitude and provenance, source-specific but JSON-safe: for data changes
    # {"schema": {"added": [...], "removed": [...], "retyped": [...]}, "row_count_pct": -42.0,
    #  "version": {"from": "v1", "to": "v2"}, "failed": False}; for rollouts {"revision": 7,
    #  "images": [...], "change_cause": "..."}; for deploy events {"commit": ..., "actor": ...}.
    details: dict[str, Any] = field(default_factory=dict)
    # For ``dependency``: how many ``depends_on`` hops away the changed service is (1: a
    # service this one calls directly). Each hop further weighs less.
    hops: int = 0


@dataclass(frozen=True)
class SignalSeries:
    """One catalog signal's values from Prometheus over the enrichment window."""

    name: str  # "error_rate", "p95_latency", "drift_score", ...
    query: str
    points: list[tuple[float, float]]  # (unix seconds, value), time-ordered
    unit: str | None = None
    bad: BadDirection = "up"  # which way is worse


@dataclass(frozen=True)
class SourceResult:
    """What one enrichment source produced, or why it could not."""

    source: str  # "deploys", "data", "metrics", "chart", "suspects"
    status: Literal["ok", "unavailable", "not_configured"]
    reason: str | None = None  # set when not ok: "timed out after 1.0 s", "HTTP 503 from ..."
    data: dict[str, Any] = field(default_factory=dict)  # JSON, stored and shown by the API
    duration_ms: float = 0.0
    # What later steps (suspects, chart) use, typed; not stored.
    changes: list[ChangeEvent] = field(default_factory=list)
    series: list[SignalSeries] = field(default_factory=list)
