"""When each dataset last succeeded, and what its producer did since: what a freshness check
(``bot/incidents/freshness_flow.py``) measures and what its thread tells.

A dataset's **last success** is the newest COMPLETE run that wrote it (the dataset among the
run's outputs, whichever of the run's events named it), at that run's COMPLETE ``eventTime``.
A run that failed, was aborted or is still going does not make a dataset fresh.

    last_successes(keys)   {(namespace, name): time} for many datasets, one query per 200
    last_success(key)      the run itself: job, run id, when
    runs_since(...)        the runs of that job after it that did not complete (usually why)
    producer_of(key)       all of the above, and the upstream: what the jobs writing it read
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, tuple_
from sqlmodel import Session, col, select

from bot.lineage.queries import CHUNK, upstream_keys
from bot.lineage.schema import TERMINAL_STATES
from bot.store.models import LineageRun, LineageRunDataset

Key = tuple[str, str]  # (namespace, name)
OUTPUT = "output"
MAX_LATER = 3  # runs since the last success, newest first
MAX_UPSTREAM = 10  # upstream datasets named in a thread


@dataclass(frozen=True)
class RunOutcome:
    """One run as a freshness thread tells it."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str  # COMPLETE, FAIL, ABORT; START, RUNNING or OTHER while it goes
    at: datetime  # its terminal event's time, or its latest event's while it goes
    error: str | None = None

    @property
    def job(self) -> str:
        return f"{self.job_namespace}/{self.job_name}"

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class Upstream:
    key: str  # "namespace/name"
    last_success: datetime | None


@dataclass(frozen=True)
class Producer:
    """What lineage says about a dataset's production."""

    key: str
    last_success: RunOutcome | None
    later: list[RunOutcome] = field(default_factory=list)  # since it, newest first
    upstream: list[Upstream] = field(default_factory=list)


def _outcome(run: LineageRun) -> RunOutcome:
    return RunOutcome(
        run_id=run.run_id,
        job_namespace=run.job_namespace,
        job_name=run.job_name,
        state=run.state,
        at=run.ended_at or run.last_event_at,
        error=run.error_message,
    )


def _written(key: Key) -> Any:
    """The join of a run to its output row for ``key``."""
    return and_(
        col(LineageRunDataset.run_pk) == col(LineageRun.id),
        col(LineageRunDataset.direction) == OUTPUT,
        col(LineageRunDataset.namespace) == key[0],
        col(LineageRunDataset.name) == key[1],
    )


def last_successes(session: Session, keys: Sequence[Key]) -> dict[Key, datetime]:
    """The last success of each of ``keys`` that has one."""
    found: dict[Key, datetime] = {}
    unique = sorted(set(keys))
    for i in range(0, len(unique), CHUNK):
        chunk = unique[i : i + CHUNK]
        rows = session.exec(
            select(
                LineageRunDataset.namespace,
                LineageRunDataset.name,
                func.max(LineageRun.ended_at),
            )
            .join(LineageRun, col(LineageRunDataset.run_pk) == col(LineageRun.id))
            .where(
                LineageRunDataset.direction == OUTPUT,
                LineageRun.state == "COMPLETE",
                tuple_(col(LineageRunDataset.namespace), col(LineageRunDataset.name)).in_(chunk),
            )
            .group_by(col(LineageRunDataset.namespace), col(LineageRunDataset.name))
        ).all()
        for namespace, name, at in rows:
            if at is not None:
                found[(namespace, name)] = at
    return found


def last_success(session: Session, key: Key) -> RunOutcome | None:
    """The newest COMPLETE run that wrote ``key``."""
    run = session.exec(
        select(LineageRun)
        .join(LineageRunDataset, _written(key))
        .where(LineageRun.state == "COMPLETE")
        .order_by(col(LineageRun.ended_at).desc(), col(LineageRun.id).desc())
        .limit(1)
    ).first()
    return _outcome(run) if run is not None else None


def runs_since(
    session: Session, job: tuple[str, str], after: datetime, limit: int = MAX_LATER
) -> list[RunOutcome]:
    """Runs of ``job`` that failed, were aborted or still go, after ``after``; newest first."""
    runs = session.exec(
        select(LineageRun)
        .where(
            LineageRun.job_namespace == job[0],
            LineageRun.job_name == job[1],
            LineageRun.state != "COMPLETE",
            or_(
                col(LineageRun.ended_at) > after,
                and_(col(LineageRun.ended_at).is_(None), col(LineageRun.last_event_at) > after),
            ),
        )
        .order_by(col(LineageRun.last_event_at).desc(), col(LineageRun.id).desc())
        .limit(limit)
    ).all()
    return [_outcome(r) for r in runs]


def runs_writing(session: Session, key: Key, limit: int = MAX_LATER) -> list[RunOutcome]:
    """The latest runs that named ``key`` among their outputs, whatever their state."""
    runs = session.exec(
        select(LineageRun)
        .join(LineageRunDataset, _written(key))
        .order_by(col(LineageRun.last_event_at).desc(), col(LineageRun.id).desc())
        .limit(limit)
    ).all()
    return [_outcome(r) for r in runs]


def producer_of(session: Session, key: Key) -> Producer:
    """The last success of ``key``, the runs of its job since (or, with no success ever, the
    runs that tried to write it), and its upstream: what the jobs writing it read (lineage,
    one hop), each with its own last success."""
    success = last_success(session, key)
    if success is not None:
        later = runs_since(session, (success.job_namespace, success.job_name), success.at)
    else:
        later = runs_writing(session, key)
    depths = upstream_keys(session, [key], depth=1)
    inputs = sorted(k for k, depth in depths.items() if depth == 1)[:MAX_UPSTREAM]
    times = last_successes(session, inputs)
    return Producer(
        key=f"{key[0]}/{key[1]}",
        last_success=success,
        later=later,
        upstream=[Upstream(f"{ns}/{name}", times.get((ns, name))) for ns, name in inputs],
    )
