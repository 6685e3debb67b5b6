"""``submit_ray_job`` and ``stop_ray_job``: Ray jobs from job templates, nothing free-form.

submit: the template (``jobs:`` in ``services.yaml``) and the values a person typed are checked
(``bot/jobs/templates.py``); the plan shows the exact command line, the resources, the deadlines
and the estimated cost, and refuses at once what the cluster cannot run (GPUs on a CPU-only
cluster) unless the person asked to wait (``wait=true``). The Ray submission id derives from the
run's idempotency key, so a retried apply adopts the job it already started. The job's row and
its progress message are recorded before the submit; ``bot/jobs/tracker.py`` follows it.

stop: only a job opsbot launched; a job that already ended is reported as such (nothing to do).
"""

from __future__ import annotations

from typing import Any, Literal

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
from bot.clients.ray import ClusterResources, RayJobsClient
from bot.errors import ExternalServiceError
from bot.jobs.entrypoints import command_line, output_dir, runtime_env, submission_id
from bot.jobs.ledger import JobLedger, NewJob
from bot.jobs.templates import JobRequest, JobTemplate, TemplateError, resolve
from bot.store.job_models import JobStatus

Value = str | int | float | bool


class SubmitParams(Params):
    kind: Literal["train", "score"] = Field(description="train or score")
    template: str = Field(min_length=1, max_length=64, description="the job template's name")
    values: dict[str, Value] = Field(
        default_factory=dict, description="key=value settings, checked against the template"
    )
    channel: str | None = Field(
        None, max_length=64, description="where the progress message goes (default: the thread)"
    )


class StopParams(Params):
    job: str = Field(
        min_length=1, max_length=128, description="a job's number (#12) or Ray submission id"
    )


def _template(ctx: ActionContext, params: SubmitParams) -> JobTemplate:
    templates = ctx.catalog.jobs if ctx.catalog is not None else None
    found = templates.get(params.kind, params.template) if templates is not None else None
    if found is None:
        known = [t.name for t in templates.all() if t.kind == params.kind] if templates else []
        listed = ", ".join(sorted(known)) or "none configured"
        raise ActionRefused(f"No {params.kind} template `{params.template}` (known: {listed}).")
    return found


def _request(template: JobTemplate, params: SubmitParams) -> JobRequest:
    try:
        return resolve(template, dict(params.values))
    except TemplateError as exc:
        raise ActionRefused(str(exc)) from None


def _ray(ctx: ActionContext) -> RayJobsClient:
    if ctx.ray is None:
        raise ActionFailed("Ray is not configured here (set RAY_ADDRESS).")
    client: RayJobsClient = ctx.ray
    return client


def _ledger(ctx: ActionContext) -> JobLedger:
    if ctx.jobs is None:
        raise ActionFailed("no job ledger: this opsbot has no database for jobs")
    ledger: JobLedger = ctx.jobs
    return ledger


def _resources(request: JobRequest) -> str:
    gpus = f", {request.gpus:g} GPU" if request.gpus else ""
    return f"{request.cpus:g} CPU{gpus}, {request.memory_gb:g} GB for the driver"


def _fits(template: JobTemplate, request: JobRequest, cluster: ClusterResources) -> None:
    """Refuse at once what this cluster cannot start (it would sit PENDING, unseen)."""
    if request.wait:
        return
    advice = (
        f"Ask for less, or add wait=true to queue it until the cluster grows (it is stopped if "
        f"still pending after {template.start_deadline_min:g} min)."
    )
    if request.gpus > 0 and cluster.gpus == 0:
        raise ActionRefused(
            f"This Ray cluster has no GPUs ({cluster.describe()}), so gpus={request.gpus:g} "
            f"would never start. Run it on CPU with gpus=0, or add wait=true to queue it until "
            f"GPU nodes join (stopped if still pending after {template.start_deadline_min:g} "
            "min)."
        )
    if request.gpus > cluster.gpus:
        raise ActionRefused(
            f"gpus={request.gpus:g} is more than this Ray cluster has ({cluster.describe()}). "
            + advice
        )
    if request.gpus == 0 and request.cpus > cluster.cpus:
        raise ActionRefused(
            f"cpus={request.cpus:g} is more than this Ray cluster has ({cluster.describe()}). "
            + advice
        )


def _cost(template: JobTemplate, request: JobRequest) -> str | None:
    if not template.cost_per_gpu_hour or not request.gpus:
        return None
    hours = template.deadline_min / 60
    most = request.gpus * hours * template.cost_per_gpu_hour
    return (
        f"estimated cost: at most ${most:,.2f} ({request.gpus:g} GPU x {hours:g} h deadline x "
        f"${template.cost_per_gpu_hour:g}/GPU-hour)"
    )


class SubmitRayJob(Action[SubmitParams]):
    name = "submit_ray_job"
    description = "Start a training or batch-scoring job on Ray from a job template"
    params_model = SubmitParams

    def target(self, ctx: ActionContext, params: SubmitParams) -> Target:
        gpus = 0.0
        templates = ctx.catalog.jobs if ctx.catalog is not None else None
        template = templates.get(params.kind, params.template) if templates else None
        if template is not None:
            try:
                gpus = resolve(template, dict(params.values)).gpus
            except TemplateError:  # refused in plan() with the reason
                gpus = float(template.resources.gpus)
        return Target(None, f"ray-job/{params.kind}/{params.template}", gpus=gpus)

    def plan(self, ctx: ActionContext, params: SubmitParams) -> Plan:
        template = _template(ctx, params)
        request = _request(template, params)
        if not ctx.key:
            raise ActionRefused("a Ray job needs a run key (its submission id derives from it)")
        sub_id = submission_id(template, ctx.key)
        try:
            entrypoint = command_line(template, request, sub_id)
        except ValueError as exc:
            raise ActionRefused(str(exc)) from None
        cluster = _ray(ctx).cluster()
        _fits(template, request, cluster)
        what = "Training" if template.kind == "train" else "Batch scoring"
        lines = [
            f"command: {entrypoint}",
            f"resources: {_resources(request)} (cluster: {cluster.describe()})",
            f"deadlines: stopped if not started within {template.start_deadline_min:g} min, "
            f"or still running after {template.deadline_min:g} min",
            f"output: {output_dir(template, sub_id)}",
        ]
        if request.wait and (request.gpus > cluster.gpus or request.cpus > cluster.cpus):
            lines.append("waits for resources the cluster does not have now (wait=true)")
        cost = _cost(template, request)
        if cost:
            lines.append(cost)
        return Plan(
            summary=f"{what} job {template.name} on Ray ({_resources(request)})",
            lines=lines,
            pinned={
                "submission_id": sub_id,
                "entrypoint": entrypoint,
                "request": request.model_dump(mode="json"),
            },
        )

    def apply(self, ctx: ActionContext, params: SubmitParams, plan: Plan) -> Result:
        template = _template(ctx, params)
        request = JobRequest.model_validate(plan.pinned["request"])
        sub_id = str(plan.pinned["submission_id"])
        entrypoint = str(plan.pinned["entrypoint"])
        ledger = _ledger(ctx)
        job = ledger.record(
            NewJob(
                template=template,
                request=request,
                submission_id=sub_id,
                entrypoint=entrypoint,
                requested_by=ctx.actor,
                incident_id=ctx.incident_id,
                channel=params.channel,
            )
        )
        assert job.id is not None
        try:
            submitted = _ray(ctx).submit(
                sub_id,
                entrypoint,
                runtime_env=runtime_env(template),
                memory_bytes=int(request.memory_gb * 1e9),
                metadata={
                    "opsbot_job": str(job.id),
                    "template": template.ref,
                    "requested_by": ctx.actor,
                },
            )
        except ExternalServiceError as exc:
            ledger.finish(job.id, JobStatus.FAILED, message=f"Ray refused the submit: {exc}")
            raise ActionFailed(f"Ray refused the submit: {exc.detail}") from exc
        ledger.change(job.id, ray_status=submitted.job.status, status=_status(submitted.job.status))
        note = (
            " (already on the cluster: adopted, nothing new started)" if submitted.adopted else ""
        )
        return Result(
            True,
            f"Submitted {template.kind} job #{job.id} `{sub_id}`{note}",
            data={"job_run_id": job.id, "submission_id": sub_id, "adopted": submitted.adopted},
        )


def _status(ray_status: str) -> str:
    return {
        "PENDING": JobStatus.PENDING,
        "RUNNING": JobStatus.RUNNING,
    }.get(ray_status, JobStatus.PENDING)


class StopRayJob(Action[StopParams]):
    name = "stop_ray_job"
    description = "Stop a Ray job that opsbot started"
    params_model = StopParams

    def target(self, ctx: ActionContext, params: StopParams) -> Target:
        return Target(None, f"ray-job/{params.job}")

    def plan(self, ctx: ActionContext, params: StopParams) -> Plan:
        job = _ledger(ctx).get(params.job)
        if job is None:
            raise ActionRefused(f"No job `{params.job}` started by opsbot (see /ops jobs).")
        what = f"job #{job.id} `{job.submission_id}` ({job.kind} {job.template})"
        pinned: dict[str, Any] = {"job_run_id": job.id, "submission_id": job.submission_id}
        if job.status in JobStatus.FINAL:
            return Plan(f"{what} already {job.status}", pinned=pinned, noop=True)
        return Plan(
            f"Stop {what}",
            lines=[f"status now: {job.status}", f"started by <@{job.requested_by}>"],
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: StopParams, plan: Plan) -> Result:
        job_id = int(plan.pinned["job_run_id"])
        sub_id = str(plan.pinned["submission_id"])
        _ledger(ctx).request_stop(job_id, ctx.actor)
        stopped = _ray(ctx).stop(sub_id)
        if not stopped:
            return Result(True, f"Job #{job_id} had already ended on the cluster")
        return Result(True, f"Stop requested for job #{job_id} `{sub_id}`")
