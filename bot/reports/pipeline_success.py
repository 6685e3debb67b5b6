"""Pipeline success rate: how the OpenLineage runs that finished in the period ended, per job.

A run counts in ``[since, until)`` when it finished there: its terminal state (``COMPLETE``,
``FAIL`` or ``ABORT``, as ``bot/lineage/store.py`` keeps it) has its ``ended_at`` in the
period. ``COMPLETE`` is a success; ``FAIL`` and ``ABORT`` are failures. The success rate is
completed / finished, per job (``namespace/name``) and overall; None without finished runs.
Runs still going (``START``, ``RUNNING``) are not counted. One query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.lineage.schema import FAILED_STATES, TERMINAL_STATES
from bot.store.models import LineageRun


@dataclass(frozen=True)
class JobRuns:
    job: str  # "namespace/name"
    completed: int
    failed: int  # FAIL and ABORT

    @property
    def runs(self) -> int:
        return self.completed + self.failed

    @property
    def success_rate(self) -> float | None:
        return self.completed / self.runs if self.runs else None

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "completed": self.completed,
            "failed": self.failed,
            "success_rate": self.success_rate,
        }


@dataclass(frozen=True)
class PipelineRuns:
    by_job: tuple[JobRuns, ...]  # most failures first, then by name

    @property
    def overall(self) -> JobRuns:
        return JobRuns(
            "(all)", sum(j.completed for j in self.by_job), sum(j.failed for j in self.by_job)
        )

    def as_json(self) -> dict[str, Any]:
        return {**self.overall.as_json(), "by_job": {j.job: j.as_json() for j in self.by_job}}


def pipeline_runs(session: Session, since: datetime, until: datetime) -> PipelineRuns:
    rows = session.exec(
        select(LineageRun.job_namespace, LineageRun.job_name, LineageRun.state, func.count())
        .where(
            col(LineageRun.state).in_(TERMINAL_STATES),
            col(LineageRun.ended_at) >= since,
            col(LineageRun.ended_at) < until,
        )
        .group_by(col(LineageRun.job_namespace), col(LineageRun.job_name), col(LineageRun.state))
    ).all()
    return job_runs((f"{ns}/{name}", state, n) for ns, name, state, n in rows)


def job_runs(counts: Iterable[tuple[str, str, int]]) -> PipelineRuns:
    """``(job, terminal state, runs)`` triples → runs per job."""
    completed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for job, state, n in counts:
        if state in FAILED_STATES:
            failed[job] += n
        elif state == "COMPLETE":
            completed[job] += n
    jobs = [JobRuns(job, completed[job], failed[job]) for job in set(completed) | set(failed)]
    jobs.sort(key=lambda j: (-j.failed, j.job))
    return PipelineRuns(tuple(jobs))
