"""Lineage completeness: which catalog datasets OpenLineage told opsbot about in the period.

Every dataset the catalog names (``Catalog.all_datasets()``: the top-level ``datasets`` and those
services read, each once) is **seen** when a run that names it, as an input or an output, had an
event (``lineage_event.event_time``) in ``[since, until)``. opsbot keeps each run's inputs and
outputs merged across its events, not per event, so a dataset named by any event of such a run
counts. Completeness is seen / named; None when the catalog names no dataset. One query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.catalog.model import Catalog, DatasetRef
from bot.store.models import LineageEvent, LineageRun, LineageRunDataset


@dataclass(frozen=True)
class LineageCompleteness:
    named: tuple[DatasetRef, ...]  # by key
    seen: frozenset[str]  # keys ("namespace/name") of those seen

    @property
    def missing(self) -> tuple[DatasetRef, ...]:
        return tuple(d for d in self.named if d.key not in self.seen)

    @property
    def rate(self) -> float | None:
        return (len(self.named) - len(self.missing)) / len(self.named) if self.named else None

    def as_json(self) -> dict[str, Any]:
        return {
            "datasets": len(self.named),
            "seen": len(self.named) - len(self.missing),
            "rate": self.rate,
            "missing": [d.key for d in self.missing],
        }


def lineage_completeness(
    session: Session, catalog: Catalog, since: datetime, until: datetime
) -> LineageCompleteness:
    named = tuple(sorted(catalog.all_datasets(), key=lambda d: d.key))
    keys = {d.key for d in named}
    seen: set[str] = set()
    if named:
        in_period = (
            select(LineageEvent.id)
            .where(
                col(LineageEvent.run_id) == col(LineageRun.run_id),
                col(LineageEvent.event_time) >= since,
                col(LineageEvent.event_time) < until,
            )
            .exists()
        )
        rows = session.exec(
            select(LineageRunDataset.namespace, LineageRunDataset.name)
            .distinct()
            .join(LineageRun, col(LineageRun.id) == col(LineageRunDataset.run_pk))
            .where(col(LineageRunDataset.name).in_(sorted({d.name for d in named})), in_period)
        ).all()
        seen = {f"{ns}/{name}" for ns, name in rows} & keys
    return LineageCompleteness(named, frozenset(seen))
