"""The Ray job commands: train, score, jobs, job, stop.

``train`` / ``score`` / ``stop`` ask the one execution path (policy, audit, plan, approval) for
``submit_ray_job`` / ``stop_ray_job``; ``jobs`` and ``job`` only read (``job`` also asks Ray for
the live status and the log tail). ``--incident N`` puts a job's progress message in that
incident's thread; otherwise it goes to the channel the command came from.
"""

from __future__ import annotations

from typing import Any

from bot.chat.commands.base import (
    CommandContext,
    Handler,
    Reply,
    answer,
    ready,
    say,
    split_flags,
)
from bot.chat.commands.incident_ref import take_flag
from bot.errors import ExternalServiceError
from bot.jobs.ledger import JobLedger
from bot.jobs.tracker import log_tail
from bot.render.jobs import duration
from bot.store.job_models import JobRun, JobStatus
from bot.store.types import utcnow
from ray_jobs.protocol import latest

MAX_PAIRS = 20


def _submit(ctx: CommandContext, args: list[str], kind: str) -> Reply:
    usage = f"Usage: /ops {kind} <template> [key=value…] [--incident N] [--dry-run]"
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    args, incident, problem = take_flag(args)
    if problem:
        return say(f"{problem}. {usage}", ok=False)
    if not args or "=" in args[0]:
        known = sorted(t.name for t in ctx.catalog.jobs.all() if t.kind == kind)
        return say(f"{usage}\n{kind} templates: {', '.join(known) or 'none configured'}", ok=False)
    template, rest = args[0], args[1:]
    pairs = [a.split("=", 1) for a in rest]
    if len(pairs) > MAX_PAIRS or any(len(p) != 2 or not p[0] for p in pairs):
        return say(f"Settings are key=value. {usage}", ok=False)
    values = {k: v for k, v in pairs}
    if len(values) != len(pairs):
        return say("A setting is given twice.", ok=False)
    view = ops.executor.request(
        "submit_ray_job",
        {"kind": kind, "template": template, "values": values, "channel": ctx.channel},
        actor=ctx.user,
        dry_run=dry,
        incident_id=incident if incident is not None else ctx.incident_id,
    )
    return answer(ctx, view)


def cmd_train(ctx: CommandContext, args: list[str]) -> Reply:
    return _submit(ctx, args, "train")


def cmd_score(ctx: CommandContext, args: list[str]) -> Reply:
    return _submit(ctx, args, "score")


def cmd_stop(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) != 1:
        return say("Usage: /ops stop <job>   (a job number like 12, or its Ray id)", ok=False)
    view = ops.executor.request(
        "stop_ray_job", {"job": args[0]}, actor=ctx.user, dry_run=dry, incident_id=ctx.incident_id
    )
    return answer(ctx, view)


def _pct(job: JobRun) -> str:
    done, total = job.progress.get("done"), job.progress.get("total")
    if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
        return f" {min(100.0, 100 * done / total):.0f}%"
    return ""


def _line(job: JobRun) -> str:
    cpus, gpus = job.resources.get("cpus"), job.resources.get("gpus") or 0
    res = (f"{cpus:g}" if isinstance(cpus, int | float) else "?") + " CPU"
    res += f", {gpus:g} GPU" if isinstance(gpus, int | float) and gpus else ""
    return (
        f"#{job.id} [{job.status}{_pct(job)}] {job.kind} {job.template} — {res}, "
        f"by {job.requested_by}, submitted {job.submitted_at:%Y-%m-%d %H:%M} UTC "
        f"(`{job.submission_id}`)"
    )


def _ledger(ctx: CommandContext) -> JobLedger:
    return JobLedger(ctx.engine)


def cmd_jobs(ctx: CommandContext, args: list[str]) -> Reply:
    if args:
        return say("Usage: /ops jobs", ok=False)
    ledger = _ledger(ctx)
    active = ledger.active()
    recent = [j for j in ledger.recent(15) if j.status in JobStatus.FINAL][:10]
    lines = [f"Running or waiting: {len(active)}"] + [_line(j) for j in active]
    if recent:
        lines += ["Recently ended:"] + [_line(j) for j in recent]
    templates = [t.ref for t in ctx.catalog.jobs.all()]
    lines.append(f"Templates: {', '.join(templates) or 'none configured (jobs: in services.yaml)'}")
    return say("\n".join(lines))


def cmd_job(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) != 1:
        return say("Usage: /ops job <job>   (a job number like 12, or its Ray id)", ok=False)
    job = _ledger(ctx).get(args[0])
    if job is None:
        return say(f"No job `{args[0]}` started by opsbot. Try /ops jobs.", ok=False)
    lines = [_line(job), f"command: {job.entrypoint}"]
    end = job.ended_at or utcnow()
    if job.started_at:
        lines.append(f"running for {duration((end - job.started_at).total_seconds())}")
    metrics = job.progress.get("metrics")
    if isinstance(metrics, dict) and metrics:
        shown = ", ".join(f"{k} {_num(v)}" for k, v in list(metrics.items())[:6])
        lines.append(f"latest: {shown}")
    if job.message:
        lines.append(f"note: {job.message}")
    lines += _live(ctx, job)
    if job.manifest:
        lines.append("manifest: " + ", ".join(_manifest_bits(job.manifest)))
    return say("\n".join(lines))


def _live(ctx: CommandContext, job: JobRun) -> list[str]:
    ray = getattr(getattr(ctx.ops, "executor", None), "clients", None)
    client = getattr(ray, "ray", None)
    if client is None:
        return []
    try:
        info = client.job(job.submission_id)
        logs = client.logs(job.submission_id) if info is not None else ""
    except ExternalServiceError as exc:
        return [f"Ray did not answer: {exc.detail}"]
    if info is None:
        return ["Ray has no job with this id (not submitted yet, or the cluster was replaced)."]
    out = [f"on Ray: {info.status}" + (f" — {info.message}" if info.message else "")]
    progress, _ = latest(logs)
    if progress is not None and job.status in JobStatus.ACTIVE:
        out.append(
            f"progress: {progress.get('done')}/{progress.get('total')} {progress.get('unit')}"
        )
    tail = log_tail(logs, 15)
    if tail:
        out += ["log tail:", tail]
    return out


def _manifest_bits(manifest: dict[str, Any]) -> list[str]:
    bits = []
    for key in ("model_version", "model_dir", "rows_per_s"):
        if key in manifest:
            bits.append(f"{key} {_num(manifest[key])}")
    metrics = manifest.get("metrics")
    if isinstance(metrics, dict):
        bits += [f"{k} {_num(v)}" for k, v in list(metrics.items())[:4]]
    output = manifest.get("output")
    if isinstance(output, dict):
        bits.append(f"output {output.get('path')} ({output.get('rows')} rows)")
    return bits


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)[:120]


JOB_COMMANDS: dict[str, Handler] = {
    "train": cmd_train,
    "score": cmd_score,
    "jobs": cmd_jobs,
    "job": cmd_job,
    "stop": cmd_stop,
}
