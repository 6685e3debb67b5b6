"""What enrichment and commands read from lineage: data changes, upstream datasets, recent runs.

Datasets are named by ``(namespace, name)``; their ``key`` is ``"namespace/name"`` (for reading
only: a namespace such as ``s3://bucket`` has slashes of its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from bot.catalog.model import DatasetRef
from bot.store.models import LineageChange, LineageRun, LineageRunDataset

MAX_UPSTREAM = 500  # datasets followed upstream at most, however wide the graph
CHUNK = 200  # (namespace, name) pairs per IN list
Key = tuple[str, str]


@dataclass(frozen=True)
class DataChange:
    """What one finished run did to one dataset, compared with the previous COMPLETE run."""

    namespace: str
    name: str
    job: str  # "namespace/name" of the job that wrote it
    run_id: str
    at: datetime  # aware UTC: the run's terminal event time
    state: str  # COMPLETE, FAIL, ABORT
    schema_added: list[str]
    schema_removed: list[str]
    schema_retyped: list[tuple[str, str, str]]  # (field, from type, to type)
    row_count_before: int | None
    row_count_after: int | None
    row_count_pct: float | None
    version_before: str | None
    version_after: str | None
    failed: bool
    first_run: bool
    depth: int  # 0: a dataset asked for; 1: its direct upstream; ...
    error: str | None = None  # the run's error message, for FAIL/ABORT
    inferred: bool = False  # failed run that named no outputs: the job's usual outputs

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def has_change(self) -> bool:
        return bool(
            self.failed
            or self.schema_added
            or self.schema_removed
            or self.schema_retyped
            or self.row_count_pct
            or (self.row_count_before == 0 and self.row_count_after)
            or (self.version_before is not None and self.version_before != self.version_after)
        )

    def summary(self) -> str:
        """One line for a person, e.g. ``warehouse/features.transactions: 2 columns removed
        (amount, currency), rows -42% (1.2M → 700k)``."""
        parts: list[str] = []
        if self.failed:
            failed = f"run {self.state} in {self.job}"
            if self.error:
                failed += f": {_cut(self.error, 80)}"
            parts.append(failed)
        for names, verb in ((self.schema_removed, "removed"), (self.schema_added, "added")):
            if names:
                parts.append(f"{_plural(len(names), 'column')} {verb} ({_listed(names)})")
        if self.schema_retyped:
            retyped = [f"{f} {a} → {b}" for f, a, b in self.schema_retyped]
            parts.append(f"{_plural(len(retyped), 'column')} retyped ({_listed(retyped)})")
        before, after = self.row_count_before, self.row_count_after
        if self.row_count_pct and before is not None and after is not None:
            parts.append(f"rows {_pct(self.row_count_pct)} ({human(before)} → {human(after)})")
        elif before == 0 and after:
            parts.append(f"rows 0 → {human(after)}")
        if self.version_before and self.version_after and self.version_before != self.version_after:
            parts.append(f"version {self.version_before} → {self.version_after}")
        if not parts:
            if self.first_run:
                parts.append(f"first run seen, by {self.job}")
            else:
                parts.append(f"rewritten by {self.job}, no schema or row-count change")
        return f"{self.key}: " + ", ".join(parts)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    job: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    last_event_at: datetime
    error: str | None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def human(n: int) -> str:
    """``700000`` → ``700k``, ``1200000`` → ``1.2M``."""
    if abs(n) < 1000:
        return str(n)
    text = str(n)
    for limit, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        text = f"{n / limit:.3g}"
        if abs(float(text)) < 1000:
            return text + suffix
    return text + "T"


def _pct(pct: float) -> str:
    size = abs(pct)
    text = f"{size:.0f}" if size >= 10 else f"{size:.1f}".rstrip("0").rstrip(".")
    if text == "0":
        text = "<0.1"
    return ("-" if pct < 0 else "+") + text + "%"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _listed(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", +{len(items) - limit} more" if len(items) > limit else "")


def _cut(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _keys(datasets: Iterable[DatasetRef] | Iterable[tuple[str, str]]) -> list[Key]:
    out: list[Key] = []
    for d in datasets:
        key = (d.namespace, d.name) if isinstance(d, DatasetRef) else (d[0], d[1])
        if key not in out:
            out.append(key)
    return out


def _chunks(keys: Sequence[Key]) -> Iterator[list[Key]]:
    for i in range(0, len(keys), CHUNK):
        yield list(keys[i : i + CHUNK])


def upstream_keys(session: Session, start: Sequence[Key], depth: int) -> dict[Key, int]:
    """``upstream_of`` keyed by ``(namespace, name)``."""
    found: dict[Key, int] = dict.fromkeys(start, 0)
    frontier = list(start)
    for level in range(1, depth + 1):
        if not frontier or len(found) >= MAX_UPSTREAM:
            break
        jobs: set[Key] = set()
        for chunk in _chunks(frontier):
            jobs.update(
                session.exec(
                    select(LineageRun.job_namespace, LineageRun.job_name)
                    .join(LineageRunDataset, col(LineageRunDataset.run_pk) == col(LineageRun.id))
                    .where(
                        LineageRunDataset.direction == "output",
                        tuple_(col(LineageRunDataset.namespace), col(LineageRunDataset.name)).in_(
                            chunk
                        ),
                    )
                    .distinct()
                ).all()
            )
        inputs: set[Key] = set()
        for chunk in _chunks(sorted(jobs)):
            inputs.update(
                session.exec(
                    select(LineageRunDataset.namespace, LineageRunDataset.name)
                    .join(LineageRun, col(LineageRunDataset.run_pk) == col(LineageRun.id))
                    .where(
                        LineageRunDataset.direction == "input",
                        tuple_(col(LineageRun.job_namespace), col(LineageRun.job_name)).in_(chunk),
                    )
                    .distinct()
                ).all()
            )
        frontier = sorted(k for k in inputs if k not in found)[: MAX_UPSTREAM - len(found)]
        found.update(dict.fromkeys(frontier, level))
    return found


def upstream_of(
    session: Session,
    datasets: Sequence[DatasetRef] | Sequence[tuple[str, str]],
    depth: int,
) -> dict[str, int]:
    """The datasets themselves (depth 0) and what the jobs writing them read, transitively up to
    ``depth`` hops: ``{"namespace/name": depth}``, the smallest depth where a dataset is seen."""
    found = upstream_keys(session, _keys(datasets), max(depth, 0))
    return {f"{ns}/{name}": d for (ns, name), d in found.items()}


def _as_change(row: LineageChange, depth: int, error: str | None) -> DataChange:
    diff: dict[str, Any] = row.diff or {}
    schema = diff.get("schema") or {}
    rows = diff.get("row_count") or {}
    version = diff.get("version") or {}
    current = diff.get("current") or {}
    return DataChange(
        namespace=row.namespace,
        name=row.name,
        job=row.job,
        run_id=row.run_id,
        at=row.at,
        state=row.state,
        schema_added=list(schema.get("added", [])),
        schema_removed=list(schema.get("removed", [])),
        schema_retyped=[(r["field"], r["from"], r["to"]) for r in schema.get("retyped", [])],
        row_count_before=rows.get("before"),
        row_count_after=rows.get("after", current.get("row_count")),
        row_count_pct=rows.get("change_pct"),
        version_before=version.get("before"),
        version_after=version.get("after", current.get("version")),
        failed=row.failed,
        first_run=row.first_run,
        depth=depth,
        error=error if row.failed else None,
        inferred=bool(diff.get("inferred")),
    )


def data_changes(
    session: Session,
    datasets: Sequence[DatasetRef] | Sequence[tuple[str, str]],
    since: datetime,
    until: datetime,
    *,
    upstream_depth: int = 2,
    limit: int = 200,
) -> list[DataChange]:
    """Finished runs (failed ones too) that wrote these datasets or their upstream datasets, with
    ``since <= at <= until`` (aware datetimes), newest first."""
    depths = upstream_keys(session, _keys(datasets), max(upstream_depth, 0))
    found: list[tuple[LineageChange, str | None]] = []
    for chunk in _chunks(list(depths)):
        found.extend(
            session.exec(
                select(LineageChange, LineageRun.error_message)
                .join(LineageRun, col(LineageRun.id) == col(LineageChange.run_pk))
                .where(
                    tuple_(col(LineageChange.namespace), col(LineageChange.name)).in_(chunk),
                    col(LineageChange.at) >= since,
                    col(LineageChange.at) <= until,
                )
                .order_by(col(LineageChange.at).desc(), col(LineageChange.id).desc())
                .limit(limit)
            ).all()
        )
    found.sort(key=lambda pair: (pair[0].at, pair[0].id or 0), reverse=True)
    return [
        _as_change(row, depths[(row.namespace, row.name)], error) for row, error in found[:limit]
    ]


def recent_runs(session: Session, limit: int = 20) -> list[RunSummary]:
    """The latest runs by their last event, newest first, with their datasets' keys."""
    runs = session.exec(
        select(LineageRun)
        .order_by(col(LineageRun.last_event_at).desc(), col(LineageRun.id).desc())
        .limit(limit)
    ).all()
    datasets: dict[int, dict[str, list[str]]] = {}
    ids = [r.id for r in runs if r.id is not None]
    if ids:
        for run_pk, direction, ns, name in session.exec(
            select(
                LineageRunDataset.run_pk,
                LineageRunDataset.direction,
                LineageRunDataset.namespace,
                LineageRunDataset.name,
            )
            .where(col(LineageRunDataset.run_pk).in_(ids))
            .order_by(col(LineageRunDataset.id))
        ):
            datasets.setdefault(run_pk, {}).setdefault(direction, []).append(f"{ns}/{name}")
    return [
        RunSummary(
            run_id=r.run_id,
            job=f"{r.job_namespace}/{r.job_name}",
            state=r.state,
            started_at=r.started_at,
            ended_at=r.ended_at,
            last_event_at=r.last_event_at,
            error=r.error_message,
            inputs=datasets.get(r.id or 0, {}).get("input", []),
            outputs=datasets.get(r.id or 0, {}).get("output", []),
        )
        for r in runs
    ]
