"""From a checked job request to the command line Ray runs, and the job's deterministic id.

Ray runs a job's entrypoint through a shell, so the line is built here from checked values only
(``templates.resolve``), each argument quoted again with ``shlex``. Resources become the
entrypoint's own arguments (how many Train workers or scoring actors, on GPUs or not); the driver
itself reserves only memory, so on a one-GPU cluster it never holds the GPU its workers need.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Any

from bot.jobs.templates import JobRequest, JobTemplate

# Arguments opsbot sets itself; a template param may not take these names.
RESERVED = {
    "train": {"out", "workers", "use_gpu"},
    "batch_score": {"out", "actors", "gpus_per_actor"},
}


def submission_id(template: JobTemplate, key: str) -> str:
    """The same request (idempotency ``key``) always maps to the same Ray submission id, so a
    retried submit finds the job it already started."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"opsbot-{template.kind}-{template.name}-{digest}"


def output_dir(template: JobTemplate, sub_id: str) -> str:
    return f"{template.artifacts.rstrip('/')}/{sub_id}"


def argv(template: JobTemplate, request: JobRequest, sub_id: str) -> list[str]:
    clash = RESERVED[template.entrypoint] & set(request.params)
    if clash:
        raise ValueError(f"{template.ref}: params {sorted(clash)} are set by opsbot")
    out = ["python", "-m", f"ray_jobs.{template.entrypoint}"]
    for key, value in request.params.items():
        out += [f"--{key.replace('_', '-')}", _arg(value)]
    out += ["--out", output_dir(template, sub_id)]
    if template.entrypoint == "train":
        workers = int(request.gpus) if request.gpus > 0 else max(1, int(request.cpus))
        out += ["--workers", str(workers), "--use-gpu", "true" if request.gpus > 0 else "false"]
    else:
        actors = int(request.gpus) if request.gpus > 0 else max(1, int(request.cpus))
        out += ["--actors", str(actors), "--gpus-per-actor", "1" if request.gpus > 0 else "0"]
    return out


def runtime_env(template: JobTemplate) -> dict[str, Any]:
    """The template's runtime_env, with the ray_jobs package added to ``py_modules`` when the
    template ships its code (Ray uploads the folder with the job)."""
    env = dict(template.runtime_env)
    if template.ship_code:
        import ray_jobs

        package = str(Path(ray_jobs.__file__).parent)
        modules = list(env.get("py_modules") or [])
        if package not in modules:
            modules.append(package)
        env["py_modules"] = modules
    return env


def command_line(template: JobTemplate, request: JobRequest, sub_id: str) -> str:
    return shlex.join(argv(template, request, sub_id))


def _arg(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
