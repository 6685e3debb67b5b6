"""Record an OpenLineage run event: dedupe it, merge it into its run, and when the run has
finished, compute what changed in every dataset it wrote.

Events of a run arrive in any order (a COMPLETE may come before its START). The run's state is
the terminal one (COMPLETE, FAIL, ABORT) as soon as one is known; facets of the run and of each
dataset are merged across events, the later ``eventTime`` winning per facet. Changes
(``lineage_change``) are recomputed whenever a finished run learns something new, and for the
runs after it that compared against it.

Call ``record`` inside ``bot.store.tx.run_tx``: it takes PostgreSQL advisory locks per run and per
written dataset, and a unique-key race (the same event posted twice at once) is retried there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, or_
from sqlmodel import Session, col, select

from bot.lineage import schema
from bot.lineage.diff import Snapshot, dataset_diff
from bot.lineage.schema import FAILED_STATES, TERMINAL_STATES, RunEvent
from bot.store.models import (
    LineageChange,
    LineageEvent,
    LineageRun,
    LineageRunDataset,
    table,
)
from bot.store.tx import lock_for
from bot.store.types import utcnow

log = logging.getLogger(__name__)

FACET_CAP = 64 * 1024  # one facet's JSON, kept raw; bigger ones are noted, not kept
FACETS_CAP = 256 * 1024  # all raw facets of one run or dataset
MAX_FOLLOWING = 50  # later runs whose change is recomputed when an earlier run completes
INPUT, OUTPUT = "input", "output"

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Recorded:
    """What ``record`` did: the run's state after the event, and how many changes it has."""

    run_id: str
    event_type: str
    job: str
    state: str
    duplicate: bool
    changes: int


def record(session: Session, event: RunEvent) -> Recorded:
    """Store ``event`` unless the same (runId, eventType, eventTime) is already stored."""
    run_id, at = event.run_id, event.eventTime
    lock_for(session, f"lineage-run:{run_id}")
    seen = session.exec(
        select(LineageEvent.id).where(
            LineageEvent.run_id == run_id,
            LineageEvent.event_type == event.eventType,
            LineageEvent.event_time == at,
        )
    ).first()
    if seen is not None:
        known = session.exec(select(LineageRun).where(LineageRun.run_id == run_id)).first()
        return Recorded(
            run_id,
            event.eventType,
            event.job.key,
            known.state if known else event.eventType,
            duplicate=True,
            changes=0,
        )
    session.execute(
        insert(table(LineageEvent)).values(
            run_id=run_id,
            event_type=event.eventType,
            event_time=at,
            producer=event.producer,
            received_at=utcnow(),
        )
    )
    run = _merge_run(session, event)
    rows = _merge_datasets(session, run, event)
    changes = refresh_changes(session, run, rows) if run.state in TERMINAL_STATES else 0
    log.info(
        "lineage: %s of run %s (job %s), run now %s, %s change(s)",
        event.eventType,
        run_id,
        event.job.key,
        run.state,
        changes,
    )
    return Recorded(run_id, event.eventType, event.job.key, run.state, False, changes)


# ── Runs ───────────────────────────────────────────────────────────────────────────────────────


def _merge_run(session: Session, event: RunEvent) -> LineageRun:
    at, kind = event.eventTime, event.eventType
    run = session.exec(select(LineageRun).where(LineageRun.run_id == event.run_id)).first()
    if run is None:
        run = LineageRun(
            run_id=event.run_id,
            job_namespace=event.job.namespace,
            job_name=event.job.name,
            state=kind,
            state_at=at,
            started_at=at if kind == "START" else None,
            ended_at=at if kind in TERMINAL_STATES else None,
            first_event_at=at,
            last_event_at=at,
            producer=event.producer,
        )
        session.add(run)
    else:
        _advance_state(run, kind, at)
    run.facets, run.facet_times, accepted = _merge_facets(
        run.facets, run.facet_times, {"facets": event.run.facets}, at
    )
    for _group, name, facet in accepted:
        if name == "errorMessage":
            run.error_message = schema.read_error_message(facet)
    run.updated_at = utcnow()
    session.flush()
    return run


def _advance_state(run: LineageRun, kind: str, at: datetime) -> None:
    """A terminal state, once known, is only replaced by a later terminal one; OTHER events
    carry metadata and leave the state alone."""
    finished = run.state in TERMINAL_STATES
    if kind in TERMINAL_STATES:
        if not finished or at >= run.state_at:
            run.state, run.state_at, run.ended_at = kind, at, at
    elif kind != "OTHER" and not finished and at >= run.state_at:
        run.state, run.state_at = kind, at
    if kind == "START":
        run.started_at = min(run.started_at, at) if run.started_at else at
    run.first_event_at = min(run.first_event_at, at)
    run.last_event_at = max(run.last_event_at, at)


# ── Datasets and their facets ──────────────────────────────────────────────────────────────────

Reader = Callable[[LineageRunDataset, Any], None]


def _set_schema(row: LineageRunDataset, facet: Any) -> None:
    row.schema_fields = schema.read_schema(facet)


def _set_version(row: LineageRunDataset, facet: Any) -> None:
    row.version = schema.read_version(facet)


def _set_statistics(row: LineageRunDataset, facet: Any) -> None:
    row.row_count, row.size_bytes = schema.read_statistics(facet) or (None, None)


def _set_quality(row: LineageRunDataset, facet: Any) -> None:
    row.quality_metrics = schema.read_quality_metrics(facet)


def _set_assertions(row: LineageRunDataset, facet: Any) -> None:
    row.quality_assertions = schema.read_assertions(facet)


# (facet group, facet name) → what it sets on the dataset row
READERS: dict[tuple[str, str], Reader] = {
    ("facets", "schema"): _set_schema,
    ("facets", "version"): _set_version,
    ("outputFacets", "outputStatistics"): _set_statistics,
    ("inputFacets", "inputStatistics"): _set_statistics,
    ("inputFacets", "dataQualityMetrics"): _set_quality,
    ("facets", "dataQualityMetrics"): _set_quality,
    ("facets", "dataQualityAssertions"): _set_assertions,
    ("inputFacets", "dataQualityAssertions"): _set_assertions,
}


def _merge_datasets(session: Session, run: LineageRun, event: RunEvent) -> list[LineageRunDataset]:
    assert run.id is not None
    rows = {
        (r.direction, r.namespace, r.name): r
        for r in session.exec(select(LineageRunDataset).where(LineageRunDataset.run_pk == run.id))
    }
    incoming: list[tuple[str, schema.Dataset, dict[str, dict[str, Any]]]] = [
        (INPUT, d, {"facets": d.facets, "inputFacets": d.inputFacets}) for d in event.inputs
    ] + [(OUTPUT, d, {"facets": d.facets, "outputFacets": d.outputFacets}) for d in event.outputs]
    for direction, dataset, groups in incoming:
        key = (direction, dataset.namespace, dataset.name)
        row = rows.get(key)
        if row is None:
            row = LineageRunDataset(
                run_pk=run.id, direction=direction, namespace=dataset.namespace, name=dataset.name
            )
            rows[key] = row
            session.add(row)
        row.facets, row.facet_times, accepted = _merge_facets(
            row.facets, row.facet_times, groups, event.eventTime
        )
        for group, name, facet in accepted:
            reader = READERS.get((group, name))
            if reader is not None:
                reader(row, None if _deleted(facet) else facet)
        row.updated_at = utcnow()
    session.flush()
    return list(rows.values())


def _deleted(facet: Any) -> bool:
    return isinstance(facet, dict) and facet.get("_deleted") is True


def _stamp(at: datetime) -> str:
    """A sortable UTC timestamp: string order is time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _size(value: Any) -> int | None:
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return None


def _merge_facets(
    stored: dict[str, Any],
    times: dict[str, str],
    groups: dict[str, dict[str, Any]],
    at: datetime,
) -> tuple[dict[str, Any], dict[str, str], list[tuple[str, str, Any]]]:
    """New raw facets and facet times (fresh dicts, so the ORM sees the change), and the
    ``(group, name, facet)`` this event wins: those it has with an eventTime no older than the
    one that set them."""
    stamp = _stamp(at)
    raw = {group: dict(facets) for group, facets in stored.items() if isinstance(facets, dict)}
    new_times = dict(times)
    accepted: list[tuple[str, str, Any]] = []
    total = _size(raw) or 0
    for group, facets in groups.items():
        for name, facet in facets.items():
            path = f"{group}.{name}"
            if new_times.get(path, "") > stamp:
                continue
            new_times[path] = stamp
            accepted.append((group, name, facet))
            size = _size(facet)
            kept: Any = facet
            if _deleted(facet):
                kept = {"_deleted": True}
            elif size is None or size > FACET_CAP or total + size > FACETS_CAP:
                kept = {"_omitted": f"facet of {size or 'unknown'} bytes not kept"}
            raw.setdefault(group, {})[name] = kept
            total += _size(kept) or 0
    return raw, new_times, accepted


# ── Changes of finished runs ───────────────────────────────────────────────────────────────────


def _snapshot(run: LineageRun, row: LineageRunDataset) -> Snapshot:
    rows = row.row_count
    if rows is None and row.quality_metrics:
        rows = row.quality_metrics.get("rowCount")
    return Snapshot(
        schema=row.schema_fields, row_count=rows, version=row.version, run_id=run.run_id
    )


def _writers(key: Key) -> Any:
    return (
        select(LineageRun, LineageRunDataset)
        .join(LineageRunDataset, col(LineageRunDataset.run_pk) == col(LineageRun.id))
        .where(
            LineageRunDataset.direction == OUTPUT,
            LineageRunDataset.namespace == key[0],
            LineageRunDataset.name == key[1],
        )
    )


def _previous(session: Session, run: LineageRun, key: Key) -> Snapshot | None:
    """The last COMPLETE run that wrote ``key`` before ``run`` finished."""
    found = session.exec(
        _writers(key)
        .where(
            LineageRun.state == "COMPLETE",
            or_(
                col(LineageRun.ended_at) < run.ended_at,
                and_(col(LineageRun.ended_at) == run.ended_at, col(LineageRun.id) < run.id),
            ),
        )
        .order_by(col(LineageRun.ended_at).desc(), col(LineageRun.id).desc())
        .limit(1)
    ).first()
    return _snapshot(*found) if found else None


def _following(session: Session, run: LineageRun, key: Key) -> list[tuple[LineageRun, Any]]:
    """Finished runs that wrote ``key`` after ``run``, up to and including the next COMPLETE one
    (the ones whose previous COMPLETE run may now be ``run``)."""
    later = session.exec(
        _writers(key)
        .where(
            col(LineageRun.state).in_(TERMINAL_STATES),
            or_(
                col(LineageRun.ended_at) > run.ended_at,
                and_(col(LineageRun.ended_at) == run.ended_at, col(LineageRun.id) > run.id),
            ),
        )
        .order_by(col(LineageRun.ended_at), col(LineageRun.id))
        .limit(MAX_FOLLOWING)
    ).all()
    out: list[tuple[LineageRun, Any]] = []
    for found in later:
        out.append((found[0], found[1]))
        if found[0].state == "COMPLETE":
            break
    return out


def _usual_outputs(session: Session, run: LineageRun) -> list[Key]:
    """What the job's latest other run wrote: a FAIL event often names no outputs."""
    latest = session.exec(
        select(LineageRun.id)
        .join(LineageRunDataset, col(LineageRunDataset.run_pk) == col(LineageRun.id))
        .where(
            LineageRun.job_namespace == run.job_namespace,
            LineageRun.job_name == run.job_name,
            LineageRun.id != run.id,
            LineageRunDataset.direction == OUTPUT,
        )
        .order_by(col(LineageRun.last_event_at).desc(), col(LineageRun.id).desc())
        .limit(1)
    ).first()
    if latest is None:
        return []
    return [
        (ns, name)
        for ns, name in session.exec(
            select(LineageRunDataset.namespace, LineageRunDataset.name).where(
                LineageRunDataset.run_pk == latest, LineageRunDataset.direction == OUTPUT
            )
        )
    ]


def _write_change(
    session: Session,
    run: LineageRun,
    key: Key,
    row: LineageRunDataset | None,
    existing: LineageChange | None,
) -> None:
    assert run.id is not None
    assert run.ended_at is not None
    diff = dataset_diff(
        _previous(session, run, key),
        _snapshot(run, row) if row is not None else None,
        failed=run.state in FAILED_STATES,
    )
    values: dict[str, Any] = {
        "run_id": run.run_id,
        "job": f"{run.job_namespace}/{run.job_name}",
        "at": run.ended_at,
        "state": run.state,
        "failed": bool(diff["failed"]),
        "first_run": bool(diff["first_run"]),
        "diff": diff,
    }
    if existing is None:
        change = LineageChange(run_pk=run.id, namespace=key[0], name=key[1], **values)
    else:
        change = existing
        for name, value in values.items():
            setattr(change, name, value)
    session.add(change)


def _change_of(session: Session, run: LineageRun, key: Key) -> LineageChange | None:
    return session.exec(
        select(LineageChange).where(
            LineageChange.run_pk == run.id,
            LineageChange.namespace == key[0],
            LineageChange.name == key[1],
        )
    ).first()


def refresh_changes(session: Session, run: LineageRun, rows: Iterable[LineageRunDataset]) -> int:
    """(Re)compute the changes of a finished run, and of the later runs that compared against
    the dataset before this run was known; the number of datasets the run changed."""
    assert run.id is not None
    targets: dict[Key, LineageRunDataset | None] = {
        (r.namespace, r.name): r for r in rows if r.direction == OUTPUT
    }
    if not targets and run.state in FAILED_STATES:
        targets = dict.fromkeys(_usual_outputs(session, run))
    for ns, name in sorted(targets):
        lock_for(session, f"lineage-dataset:{ns}/{name}")
    existing = {
        (c.namespace, c.name): c
        for c in session.exec(select(LineageChange).where(LineageChange.run_pk == run.id))
    }
    for key, row in targets.items():
        _write_change(session, run, key, row, existing.get(key))
        if run.state == "COMPLETE" and row is not None:
            session.flush()
            for later, later_row in _following(session, run, key):
                _write_change(session, later, key, later_row, _change_of(session, later, key))
    for key, stale in existing.items():
        if key not in targets:
            session.delete(stale)
    session.flush()
    return len(targets)
