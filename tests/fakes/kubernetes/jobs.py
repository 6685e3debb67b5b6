"""The Job controller's part: a created Job runs (``active``, ``startTime``) until the test
finishes it, or at once when jobs auto-complete; a finished Job carries the conditions the real
controller writes (``SuccessCriteriaMet`` + ``Complete``, or ``FailureTarget`` + ``Failed``)."""

from __future__ import annotations

import copy
from datetime import datetime

from tests.fakes.kubernetes.errors import Json
from tests.fakes.kubernetes.kinds import JOBS
from tests.fakes.kubernetes.store import Store, stamp


def job_written(store: Store, obj: Json, old: Json | None, at: datetime) -> None:
    if old is not None:
        return
    job = copy.deepcopy(obj)
    if job["spec"].get("suspend"):
        condition = _condition("Suspended", "JobSuspended", "Job suspended", at)
        job["status"] = {"conditions": [condition]}
    else:
        job["status"] = {
            "startTime": stamp(at),
            "active": int(job["spec"].get("parallelism", 1)),
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    store.save(JOBS, job)
    if store.auto_jobs and not job["spec"].get("suspend"):
        finish_job(store, job["metadata"]["namespace"], job["metadata"]["name"], True, at)


def _condition(kind: str, reason: str, message: str, at: datetime) -> Json:
    when = stamp(at)
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": when,
        "lastTransitionTime": when,
        "reason": reason,
        "message": message,
    }


def finish_job(store: Store, ns: str, name: str, succeeded: bool, at: datetime) -> Json:
    job = copy.deepcopy(store.get(JOBS, ns, name))
    status = job.get("status") or {}
    if any(c.get("type") in ("Complete", "Failed") for c in status.get("conditions") or []):
        raise AssertionError(f"job {ns}/{name} has already finished")
    new: Json = {"startTime": status.get("startTime", stamp(at))}
    if succeeded:
        why = ("CompletionsReached", "Reached expected number of succeeded pods")
        new["conditions"] = [
            _condition("SuccessCriteriaMet", *why, at),
            _condition("Complete", *why, at),
        ]
        new["completionTime"] = stamp(at)
        new["succeeded"] = int(job["spec"].get("completions", 1))
    else:
        why = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        new["conditions"] = [_condition("FailureTarget", *why, at), _condition("Failed", *why, at)]
        new["failed"] = int(job["spec"].get("backoffLimit", 6)) + 1
    new.update(ready=0, terminating=0, uncountedTerminatedPods={})
    job["status"] = new
    return store.save(JOBS, job)
