"""Data freshness adherence: how much of the period each watched dataset was fresh.

For a catalog dataset with a ``freshness`` objective (``Catalog.datasets``), at time t it is
**within** its objective when the last successful run that wrote it (an OpenLineage run in state
``COMPLETE`` with the dataset among its outputs, ended at or before t) ended no longer than the
objective before t: ``t - last_complete <= objective``. A dataset never written before t is not
within. Its **adherence** is the time within / the time observed, where the observed span is
``[since, min(until, now))`` (what is after now is not known yet); overall, the sum of the time
within over the sum of the time observed (the mean when every dataset has the same span).

A dataset is **stale** at the end of the observed span (now, for a report that runs to now) when
the last success before that end (the period is half-open: a run ending exactly at ``until``
belongs to the next one) is older than its objective, or there is none.

``within_objective`` is the pure computation; two queries read the run history (the last
completion before the period, and those in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.store.models import LineageRun, LineageRunDataset

COMPLETE, OUTPUT = "COMPLETE", "output"


def within_objective(
    completions: Sequence[datetime], objective: timedelta, start: datetime, end: datetime
) -> timedelta:
    """How long in ``[start, end)`` the last of ``completions`` at or before each instant is at
    most ``objective`` old: the length of the union of ``[c, c + objective]`` over the
    completions, clipped to ``[start, end)``. Completions after ``end`` do not count."""
    if objective <= timedelta(0):
        raise ValueError(f"the objective must be positive, not {objective}")
    total = timedelta(0)
    covered_to = start  # everything before this is counted already
    for done in sorted(completions):
        if done >= end:
            break
        lo, hi = max(done, covered_to), min(done + objective, end)
        if hi > lo:
            total += hi - lo
            covered_to = hi
    return total


@dataclass(frozen=True)
class DatasetFreshness:
    name: str  # the catalog's short name
    key: str  # "namespace/name"
    owner: str | None
    objective: timedelta
    within: timedelta
    observed: timedelta
    last_complete_at: datetime | None  # the last before the end of the observed span
    stale: bool  # at the end of the observed span

    @property
    def adherence(self) -> float | None:
        return self.within / self.observed if self.observed else None

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.key,
            "owner": self.owner,
            "objective_s": self.objective.total_seconds(),
            "within_s": self.within.total_seconds(),
            "observed_s": self.observed.total_seconds(),
            "adherence": self.adherence,
            "last_complete_at": self.last_complete_at.isoformat()
            if self.last_complete_at
            else None,
            "stale": self.stale,
        }


@dataclass(frozen=True)
class FreshnessAdherence:
    as_of: datetime  # the end of the observed span
    datasets: tuple[DatasetFreshness, ...]  # by catalog name

    @property
    def adherence(self) -> float | None:
        observed = sum((d.observed for d in self.datasets), timedelta(0))
        within = sum((d.within for d in self.datasets), timedelta(0))
        return within / observed if observed else None

    @property
    def stale(self) -> tuple[DatasetFreshness, ...]:
        return tuple(d for d in self.datasets if d.stale)

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "datasets": len(self.datasets),
            "adherence": self.adherence,
            "by_dataset": {d.name: d.as_json() for d in self.datasets},
            "stale": [d.name for d in self.stale],
        }


def freshness_adherence(
    session: Session, catalog: Catalog, since: datetime, until: datetime, now: datetime
) -> FreshnessAdherence:
    end = max(since, min(until, now))
    watched = {
        name: (d, objective)
        for name, d in sorted(catalog.datasets.items())
        if (objective := d.objective()) is not None
    }
    keys = {d.key for d, _ in watched.values()}
    names = sorted({d.name for d, _ in watched.values()})
    completions: dict[str, list[datetime]] = {key: [] for key in keys}
    if names:
        writes = (
            col(LineageRun.id) == col(LineageRunDataset.run_pk),
            LineageRun.state == COMPLETE,
            LineageRunDataset.direction == OUTPUT,
            col(LineageRunDataset.name).in_(names),
        )
        ns, ds = col(LineageRunDataset.namespace), col(LineageRunDataset.name)
        ended = col(LineageRun.ended_at)
        before = session.exec(
            select(ns, ds, func.max(ended)).where(*writes, ended < since).group_by(ns, ds)
        ).all()
        during = session.exec(
            select(ns, ds, ended).where(*writes, ended >= since, ended < end)
        ).all()
        for namespace, name, at in [*before, *during]:
            if f"{namespace}/{name}" in completions and at is not None:
                completions[f"{namespace}/{name}"].append(at)
    found = []
    for name, (dataset, objective) in watched.items():
        done = sorted(completions[dataset.key])
        last = done[-1] if done else None
        found.append(
            DatasetFreshness(
                name=name,
                key=dataset.key,
                owner=dataset.owner,
                objective=objective,
                within=within_objective(done, objective, since, end),
                observed=end - since,
                last_complete_at=last,
                stale=last is None or end - last > objective,
            )
        )
    return FreshnessAdherence(end, tuple(found))
