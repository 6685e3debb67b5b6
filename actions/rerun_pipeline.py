"""``rerun_pipeline``: start a catalog pipeline once more and follow it to its end.

- ``kind: cronjob``: a Job from the CronJob's ``jobTemplate``, as ``kubectl create job
  --from=cronjob/<name>`` makes it (the template's labels and annotations,
  ``cronjob.kubernetes.io/instantiate: manual``, the CronJob as controlling owner), plus
  ``opsbot/pipeline`` and ``opsbot/run-key``.
- ``kind: airflow``: a DAG run through the REST API with the pipeline's ``conf``.

The Job name (``<cronjob>-rerun-<hash8>``) and the ``dag_run_id`` (``opsbot__<hash16>``) derive
from the pipeline and the run's idempotency key, so a retry of the same run finds its own Job or
DAG run (409) and follows it instead of starting a second one. A Job of that name that opsbot did
not make from this CronJob is refused. Without a key (a direct call), the plan's time seeds the
name instead, and the name is pinned in the plan.

With ``wait`` (the default) the run is followed until it succeeds (done), fails, or the
pipeline's ``timeout_s`` passes (both failures; the run itself is left alone).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import Field

from actions.base import (
    Action,
    ActionContext,
    ActionFailed,
    ActionRefused,
    Params,
    Plan,
    Result,
    Target,
)
from actions.k8s_common import kube_of
from bot.catalog.model import Pipeline
from bot.clients.airflow import AirflowClient
from bot.clients.kubernetes import Json, KubeClient
from bot.errors import ExternalServiceError

POLL_S = 5.0  # seconds between two looks at a running Job or DAG run
INSTANTIATE = "cronjob.kubernetes.io/instantiate"
PIPELINE_NOTE = "opsbot/pipeline"
RUN_KEY_NOTE = "opsbot/run-key"
RUN_ID_PREFIX = "opsbot__"
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


class RerunParams(Params):
    pipeline: str = Field(
        min_length=1, max_length=128, description="the pipeline's name in the catalog"
    )
    wait: bool = Field(
        True, description="follow the run to its end (at most the pipeline's timeout_s)"
    )


class RerunPipeline(Action[RerunParams]):
    name = "rerun_pipeline"
    remediates = True
    description = (
        "Run a data or training pipeline again (a Job from its CronJob, or an Airflow DAG run) "
        "and follow it to its end"
    )
    params_model = RerunParams

    def target(self, ctx: ActionContext, params: RerunParams) -> Target:
        pipeline = ctx.pipelines.get(params.pipeline)
        namespace = pipeline.namespace if pipeline and pipeline.kind == "cronjob" else None
        return Target(namespace, f"pipeline/{params.pipeline}")

    def plan(self, ctx: ActionContext, params: RerunParams) -> Plan:
        pipeline = _pipeline(ctx, params.pipeline)
        seed = ctx.key or f"plan at {ctx.clock().isoformat()}"
        digest = hashlib.sha256(f"{pipeline.name}\n{seed}".encode()).hexdigest()
        follow = f", and follow it (up to {_duration(pipeline.timeout_s)})" if params.wait else ""
        if pipeline.kind == "cronjob":
            return _plan_job(kube_of(ctx), pipeline, digest, follow)
        return _plan_dag_run(_airflow(ctx), pipeline, digest, follow)

    def apply(self, ctx: ActionContext, params: RerunParams, plan: Plan) -> Result:
        pipeline = _pipeline(ctx, params.pipeline)
        pinned = plan.pinned
        if pinned.get("kind") != pipeline.kind:
            raise ActionRefused(
                f"pipeline {pipeline.name} is now a {pipeline.kind} pipeline, not the "
                f"{pinned.get('kind')} one this was approved for: ask for a new approval"
            )
        if pipeline.kind == "cronjob":
            return _run_job(ctx, kube_of(ctx), pipeline, pinned, params.wait)
        return _run_dag(ctx, _airflow(ctx), pipeline, pinned, params.wait)


# -- CronJob → Job --------------------------------------------------------------------------------


def job_name(cronjob: str, digest: str) -> str:
    """``<cronjob>-rerun-<hash8>``: a DNS-1123 label of at most 63 characters."""
    suffix = f"-rerun-{digest[:8]}"
    base = _NOT_LABEL.sub("-", cronjob.lower())[: 63 - len(suffix)].strip("-")
    return f"{base}{suffix}"


def _plan_job(kube: KubeClient, pipeline: Pipeline, digest: str, follow: str) -> Plan:
    ns, cron_name = str(pipeline.namespace), str(pipeline.cronjob)
    cron = _read_cronjob(kube, ns, cron_name, pipeline.name)
    name = job_name(cron_name, digest)
    lines = [f"Job {ns}/{name} from the jobTemplate of CronJob {ns}/{cron_name}"]
    if (cron.get("spec") or {}).get("suspend"):
        lines.append("the CronJob is suspended: this manual Job runs all the same")
    existing = _maybe(lambda: kube.read_job(ns, name))
    if existing is not None:
        lines.append(f"Job {name} exists already (an earlier try): it is followed, not made again")
    if follow:
        lines.append(f"fails if it has not succeeded within {_duration(pipeline.timeout_s)}")
    return Plan(
        f"Rerun pipeline {pipeline.name}: start Job {ns}/{name} from CronJob {cron_name}{follow}",
        lines=lines,
        pinned={
            "kind": "cronjob",
            "namespace": ns,
            "cronjob": cron_name,
            "cronjob_uid": str(cron["metadata"].get("uid") or ""),
            "job": name,
            "run_key": digest[:16],
        },
    )


def _job_body(cron: Json, name: str, pipeline: str, run_key: str) -> Json:
    """What ``kubectl create job --from=cronjob/...`` sends, plus opsbot's two annotations."""
    template = (cron.get("spec") or {}).get("jobTemplate") or {}
    meta = template.get("metadata") or {}
    annotations = {INSTANTIATE: "manual", **(meta.get("annotations") or {})}
    annotations.update({PIPELINE_NOTE: pipeline, RUN_KEY_NOTE: run_key})
    metadata: Json = {
        "name": name,
        "annotations": annotations,
        "ownerReferences": [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": cron["metadata"]["name"],
                "uid": cron["metadata"]["uid"],
                "controller": True,
            }
        ],
    }
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _run_job(
    ctx: ActionContext, kube: KubeClient, pipeline: Pipeline, pinned: dict[str, Any], wait: bool
) -> Result:
    ns, cron_name = str(pinned["namespace"]), str(pinned["cronjob"])
    name, run_key = str(pinned["job"]), str(pinned["run_key"])
    cron = _read_cronjob(kube, ns, cron_name, pipeline.name)
    adopted = False
    try:
        job = kube.create_job(ns, _job_body(cron, name, pipeline.name, run_key))
    except ExternalServiceError as exc:
        if exc.status != 409:
            raise
        job = kube.read_job(ns, name)
        if not _ours(job, cron, pipeline.name, run_key):
            raise ActionRefused(
                f"Job {ns}/{name} exists but was not started by opsbot from CronJob "
                f"{cron_name} for this run: leave it alone, or delete it and ask again"
            ) from exc
        adopted = True
    data: dict[str, Any] = {
        "pipeline": pipeline.name,
        "kind": "cronjob",
        "namespace": ns,
        "job": name,
        "adopted": adopted,
    }
    how = "was started earlier by this run" if adopted else "started"
    if not wait:
        return Result(True, f"Job {ns}/{name} {how} (not followed)", {**data, "state": "running"})

    def look() -> tuple[str | None, str]:
        current = kube.read_job(ns, name)
        state, why = job_state(current)
        data.update(state=state or "running", **_job_times(current))
        return state, why

    state, why = _follow(ctx, look, pipeline.timeout_s, f"Job {ns}/{name}")
    if state == "failed":
        raise ActionFailed(f"pipeline {pipeline.name}: Job {ns}/{name} failed: {why}")
    return Result(True, f"Pipeline {pipeline.name}: Job {ns}/{name} succeeded", data)


def job_state(job: Json) -> tuple[str | None, str]:
    """("succeeded" | "failed" | None while it runs, the condition's message)."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        reason = f"{cond.get('reason') or ''}: {cond.get('message') or ''}".strip(": ")
        if cond.get("type") == "Complete":
            return "succeeded", reason
        if cond.get("type") == "Failed":
            return "failed", reason
    status = job.get("status") or {}
    return None, f"active {status.get('active', 0)}, failed pods {status.get('failed', 0)}"


def _job_times(job: Json) -> dict[str, Any]:
    status = job.get("status") or {}
    return {"start_time": status.get("startTime"), "completion_time": status.get("completionTime")}


def _ours(job: Json, cron: Json, pipeline: str, run_key: str) -> bool:
    meta = job.get("metadata") or {}
    notes = meta.get("annotations") or {}
    owned = any(r.get("uid") == cron["metadata"]["uid"] for r in meta.get("ownerReferences") or [])
    return (
        owned
        and notes.get(INSTANTIATE) == "manual"
        and notes.get(PIPELINE_NOTE) == pipeline
        and notes.get(RUN_KEY_NOTE) == run_key
    )


def _read_cronjob(kube: KubeClient, ns: str, name: str, pipeline: str) -> Json:
    try:
        return kube.read_cronjob(ns, name)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(f"CronJob {ns}/{name} of pipeline {pipeline} not found") from exc
        raise


# -- Airflow DAG run ------------------------------------------------------------------------------


def _plan_dag_run(airflow: AirflowClient, pipeline: Pipeline, digest: str, follow: str) -> Plan:
    dag_id = str(pipeline.dag_id)
    try:
        dag = airflow.get_dag(dag_id)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(
                f"Airflow has no DAG {dag_id} (pipeline {pipeline.name}): check the catalog"
            ) from exc
        raise
    if dag.get("is_paused"):
        raise ActionRefused(
            f"DAG {dag_id} is paused in Airflow: a run would stay queued; unpause it first"
        )
    run_id = f"{RUN_ID_PREFIX}{digest[:16]}"
    conf = json.dumps(pipeline.conf, sort_keys=True)
    lines = [f"DAG run {run_id} of {dag_id} with conf {conf}"]
    if _maybe(lambda: airflow.get_dag_run(dag_id, run_id)) is not None:
        lines.append(f"run {run_id} exists already (an earlier try): it is followed, not re-made")
    if follow:
        lines.append(f"fails if it has not succeeded within {_duration(pipeline.timeout_s)}")
    return Plan(
        f"Rerun pipeline {pipeline.name}: trigger Airflow DAG {dag_id} (run {run_id}){follow}",
        lines=lines,
        pinned={
            "kind": "airflow",
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "conf": dict(pipeline.conf),
        },
    )


def _run_dag(
    ctx: ActionContext,
    airflow: AirflowClient,
    pipeline: Pipeline,
    pinned: dict[str, Any],
    wait: bool,
) -> Result:
    dag_id, run_id = str(pinned["dag_id"]), str(pinned["dag_run_id"])
    run = airflow.trigger_dag_run(dag_id, run_id, dict(pinned.get("conf") or {}))
    adopted = bool(run.get("already_existed"))
    data: dict[str, Any] = {
        "pipeline": pipeline.name,
        "kind": "airflow",
        "dag_id": dag_id,
        "dag_run_id": run_id,
        "adopted": adopted,
        "state": run.get("state"),
    }
    ref = f"DAG run {dag_id}/{run_id}"
    if not wait:
        how = "was triggered earlier by this run" if adopted else "triggered"
        return Result(True, f"{ref} {how} (not followed)", data)

    def look() -> tuple[str | None, str]:
        current = airflow.get_dag_run(dag_id, run_id)
        state = str(current.get("state") or "")
        data.update(
            state=state, start_date=current.get("start_date"), end_date=current.get("end_date")
        )
        if state == "success":
            return "succeeded", state
        if state == "failed":
            return "failed", state
        return None, state or "no state"

    state, _ = _follow(ctx, look, pipeline.timeout_s, ref)
    if state == "failed":
        raise ActionFailed(f"pipeline {pipeline.name}: {ref} failed")
    return Result(True, f"Pipeline {pipeline.name}: {ref} succeeded", data)


# -- shared ---------------------------------------------------------------------------------------


def _follow(
    ctx: ActionContext,
    look: Callable[[], tuple[str | None, str]],
    timeout_s: int,
    what: str,
) -> tuple[str, str]:
    """Call ``look`` every ``POLL_S`` until it names an end state; ActionFailed after
    ``timeout_s``. Answers that do not come (timeouts, 5xx) count as "still running"."""
    deadline = ctx.clock() + timedelta(seconds=timeout_s)
    last = "no answer yet"
    while True:
        try:
            state, last = look()
        except ExternalServiceError as exc:
            if not (exc.status is None or exc.status == 429 or exc.status >= 500):
                raise
            state, last = None, f"no answer: {exc.detail}"
        if state is not None:
            return state, last
        left = (deadline - ctx.clock()).total_seconds()
        if left <= 0:
            raise ActionFailed(
                f"{what} has not finished within {_duration(timeout_s)} ({last}); it is left "
                "running"
            )
        ctx.sleep(min(POLL_S, left))


def _pipeline(ctx: ActionContext, name: str) -> Pipeline:
    pipeline = ctx.pipelines.get(name)
    if pipeline is None:
        known = ", ".join(sorted(ctx.pipelines)) or "none are configured"
        raise ActionRefused(f"unknown pipeline {name!r}; known pipelines: {known}")
    return pipeline


def _airflow(ctx: ActionContext) -> AirflowClient:
    if ctx.airflow is None:
        raise ActionRefused("Airflow is not configured")
    return ctx.airflow


def _maybe(read: Callable[[], Json]) -> Json | None:
    """``read()``, or None where it is not found."""
    try:
        return read()
    except ExternalServiceError as exc:
        if exc.status == 404:
            return None
        raise


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"
