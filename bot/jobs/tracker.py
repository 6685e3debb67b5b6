"""Follows every Ray job opsbot launched until it ends, and keeps its message up to date.

Each pass reads the jobs that are not final from the database (so a restarted bot reattaches to
whatever was running) and asks Ray for each one's status; for a running job it also reads the
log and takes the latest structured progress line (``ray_jobs/protocol.py``). A change queues an
edit of the job's message: a status change at once, progress at most every ``edit_every_s``.

opsbot enforces the template's deadlines itself (Ray would leave a job PENDING for resources for
15 minutes, unseen): a job still pending after its start deadline, or running past its deadline,
is stopped and reported with the reason. A final status is recorded once (``JobLedger.finish``):
the failure's log tail or the success's manifest goes into the message, and one reply says how
it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import anyio

from bot.clients.ray import RayJob, RayJobsClient
from bot.errors import ExternalServiceError
from bot.jobs.ledger import JobLedger
from bot.logs import about
from bot.store.job_models import JobRun, JobStatus
from bot.store.types import utcnow
from ray_jobs.protocol import latest

log = logging.getLogger(__name__)

POLL_S = 2.0
EDIT_EVERY_S = 3.0  # the fastest a job's message is edited for progress alone
LOG_TAIL_LINES = 30
LOST_AFTER = timedelta(minutes=2)  # recorded, but never seen on the cluster
RAY_FINAL = {"SUCCEEDED": JobStatus.SUCCEEDED, "FAILED": JobStatus.FAILED}


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class JobTracker:
    def __init__(
        self,
        ledger: JobLedger,
        ray: RayJobsClient,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_s: float = POLL_S,
        edit_every_s: float = EDIT_EVERY_S,
        on_change: Callable[[], None] | None = None,
        on_final: Callable[[JobRun], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.ray = ray
        self.clock = clock
        self.poll_s = poll_s
        self.edit_every_s = edit_every_s
        self.on_change = on_change  # wakes the outbox sender
        self.on_final = on_final  # told once per job, by the pass that recorded its end
        self._last_edit: dict[int, datetime] = {}
        # When this replica last finished a pass over the active jobs (or began to follow them):
        # the ``opsbot_job_tracker_lag_seconds`` gauge where this replica leads "jobs".
        self.last_pass_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        self.last_pass_at = self.clock()
        while not stop.is_set():
            try:
                await anyio.to_thread.run_sync(self.poll_once)
                self.last_pass_at = self.clock()
            except Exception:
                log.exception("job tracker pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)

    def lag_s(self) -> float | None:
        """Seconds since the last finished pass (None before this replica first followed)."""
        if self.last_pass_at is None:
            return None
        return max(0.0, (self.clock() - self.last_pass_at).total_seconds())

    def follow_until(self, stop: threading.Event) -> None:
        """The same loop in a plain thread (the console has no event loop running)."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("job tracker pass failed; trying again")
            stop.wait(self.poll_s)

    def poll_once(self) -> int:
        """One look at every active job; the number of jobs whose message changed."""
        changed = 0
        for job in self.ledger.active():
            try:
                with about(job_id=job.id, incident_id=job.incident_id):
                    changed += self._follow(job)
            except ExternalServiceError as exc:
                log.warning("job %s: Ray did not answer (%s); trying again", job.id, exc.detail)
        if changed and self.on_change is not None:
            self.on_change()
        return changed

    # -- one job ---------------------------------------------------------------------------

    def _follow(self, job: JobRun) -> int:
        assert job.id is not None
        now = self.clock()
        info = self.ray.job(job.submission_id)
        if info is None:
            if now - job.submitted_at > LOST_AFTER:
                lost = (
                    "never reached the Ray cluster"
                    if job.status == JobStatus.SUBMITTED
                    else "no longer on the Ray cluster (was it restarted or replaced?)"
                )
                return self._finish(job, JobStatus.FAILED, message=lost, logs="")
            return 0
        if info.status in RAY_FINAL or info.status == "STOPPED":
            return self._ended(job, info)
        if info.status == "PENDING" and job.stop_requested_by is not None:
            # Ray may keep a job that never got its resources PENDING long after a stop.
            self.ray.stop(job.submission_id)
            who = job.stop_requested_by
            message = f"stopped by <@{who}> before it started"
            return self._finish(job, JobStatus.STOPPED, message=message, logs="", info=info)
        if not job.progress and now > job.start_deadline_at:
            # Not started: Ray has it PENDING, or it runs but its workers wait for resources
            # (a Train worker asking for a GPU the cluster lacks) and no progress line came.
            # The entrypoints print their first line once their workers run (train: 0 epochs
            # done, before the first epoch; score: after the first batch).
            return self._stop_at_deadline(job, "not started within its start deadline", info)
        if info.status == "RUNNING" and now > job.deadline_at:
            return self._stop_at_deadline(job, "still running at its deadline", info)
        return self._progress(job, info, now)

    def _progress(self, job: JobRun, info: RayJob, now: datetime) -> int:
        assert job.id is not None
        fields: dict[str, Any] = {}
        status = JobStatus.RUNNING if info.status == "RUNNING" else JobStatus.PENDING
        if status != job.status or info.status != job.ray_status:
            fields.update(status=status, ray_status=info.status)
        if status == JobStatus.RUNNING and job.started_at is None:
            fields["started_at"] = info.start_time or now
            if job.message and job.stop_requested_by is None:
                fields["message"] = None  # Ray's "waiting for resources" note no longer holds
        pending_note = status == JobStatus.PENDING and job.stop_requested_by is None
        if pending_note and info.message and info.message[:500] != job.message:
            fields["message"] = info.message[:500]
        if status == JobStatus.RUNNING:
            progress, _ = latest(self.ray.logs(job.submission_id))
            if progress is not None and _progress_of(progress) != _progress_of(job.progress):
                last = self._last_edit.get(job.id)
                status_changed = "status" in fields
                if (
                    status_changed
                    or last is None
                    or (now - last).total_seconds() >= (self.edit_every_s)
                ):
                    fields["progress"] = _progress_of(progress)
        if not fields:
            return 0
        self.ledger.change(job.id, **fields)
        self._last_edit[job.id] = now
        return 1

    def _ended(self, job: JobRun, info: RayJob) -> int:
        logs = self.ray.logs(job.submission_id)
        if info.status == "STOPPED":
            who = job.stop_requested_by
            said = f"stopped by <@{who}>" if who else (job.message or "stopped on the cluster")
            return self._finish(job, JobStatus.STOPPED, message=said, logs=logs, info=info)
        status = RAY_FINAL[info.status]
        message = None if status == JobStatus.SUCCEEDED else (info.message or "failed")[:500]
        return self._finish(job, status, message=message, logs=logs, info=info)

    def _stop_at_deadline(self, job: JobRun, why: str, info: RayJob) -> int:
        assert job.id is not None
        started = bool(job.progress)
        limit = job.deadline_at if started else job.start_deadline_at
        minutes = round((limit - job.submitted_at).total_seconds() / 60, 2)
        reason = f"{why} ({minutes:g} min)"
        if not started:
            reason += f"; {self._waiting_for(job, info)}"
        log.warning("job %s (%s): %s; stopping it", job.id, job.submission_id, reason)
        try:
            self.ray.stop(job.submission_id)
        except ExternalServiceError as exc:
            log.warning("job %s: stop at deadline failed: %s", job.id, exc.detail)
        # Ray may take long to end a job that never started: it is over for opsbot now.
        logs = self._logs_or_empty(job)
        return self._finish(
            job, JobStatus.STOPPED, message=f"stopped by opsbot: {reason}", logs=logs, audit=True
        )

    def _finish(
        self,
        job: JobRun,
        status: str,
        *,
        message: str | None,
        logs: str,
        info: RayJob | None = None,
        audit: bool = False,
    ) -> int:
        assert job.id is not None
        progress, manifest = latest(logs) if logs else (None, None)
        fields: dict[str, Any] = {
            "message": message,
            "ray_status": info.status if info is not None else job.ray_status,
        }
        if progress is not None:
            fields["progress"] = _progress_of(progress)
        if status == JobStatus.SUCCEEDED and manifest is not None:
            body = manifest.get("manifest")
            fields["manifest"] = body if isinstance(body, dict) else {}
        if status != JobStatus.SUCCEEDED and logs:
            fields["log_tail"] = log_tail(logs)
        if info is not None and info.start_time and job.started_at is None:
            fields["started_at"] = info.start_time
        if info is not None and info.end_time:
            fields["ended_at"] = info.end_time
        won = self.ledger.finish(job.id, status, audit_as="opsbot" if audit else None, **fields)
        self._last_edit.pop(job.id, None)
        if won and self.on_final is not None:
            ended = self.ledger.get(job.id)
            if ended is not None:
                self.on_final(ended)
        return 1 if won else 0

    def _waiting_for(self, job: JobRun, info: RayJob) -> str:
        """Why a job has not started, as far as opsbot can tell."""
        gpus = float(job.resources.get("gpus") or 0)
        try:
            cluster = self.ray.cluster()
        except ExternalServiceError:
            cluster = None
        if gpus and cluster is not None and cluster.gpus < gpus:
            return f"it asked for {gpus:g} GPU, the cluster has {cluster.gpus:g}"
        if info.message:
            return info.message[:200]
        return "waiting for resources"

    def _logs_or_empty(self, job: JobRun) -> str:
        try:
            return self.ray.logs(job.submission_id)
        except ExternalServiceError:
            return ""


def _progress_of(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a progress line the message shows (the ``opsbot`` tag dropped)."""
    return {k: v for k, v in record.items() if k != "opsbot"}
