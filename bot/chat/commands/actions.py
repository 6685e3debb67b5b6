"""The remediation commands: rollback, scale, restart, rerun, playbooks, run, approve, reject,
withdraw.

Each asks the one execution path (``bot/runner/execute.py``): policy, audit, plan, approval.
``--dry-run`` anywhere in a command shows the plan and changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.chat.commands.base import (
    CommandContext,
    Handler,
    Reply,
    answer,
    ready,
    say,
    split_flags,
)
from bot.chat.commands.incident_ref import of_service
from bot.render.approvals import outcome
from bot.runner.context import service_context
from bot.runner.ops import Ops
from bot.store.run_models import ActionRun


def _deployment(ctx: CommandContext, service: str) -> tuple[str, str] | str:
    entry = ctx.catalog.get(service)
    if entry is None or not entry.namespace or not entry.deployments:
        return f"{service} has no Kubernetes namespace and Deployment in the service catalog."
    return entry.namespace, entry.deployments[0]


def cmd_rollback(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops rollback <service> [to <revision>] [--dry-run]"
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) not in (1, 3) or (len(args) == 3 and (args[1] != "to" or not args[2].isdigit())):
        return say(usage, ok=False)
    found = _deployment(ctx, args[0])
    if isinstance(found, str):
        return say(found, ok=False)
    params: dict[str, Any] = {"namespace": found[0], "deployment": found[1]}
    if len(args) == 3:
        params["to_revision"] = int(args[2])
    view = ops.executor.request(
        "rollback_deployment",
        params,
        actor=ctx.user,
        dry_run=dry,
        incident_id=of_service(ctx, args[0]),
    )
    return answer(ctx, view)


def cmd_scale(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) != 2 or not args[1].isdigit():
        return say("Usage: /ops scale <service> <replicas> [--dry-run]", ok=False)
    found = _deployment(ctx, args[0])
    if isinstance(found, str):
        return say(found, ok=False)
    params = {"namespace": found[0], "deployment": found[1], "replicas": int(args[1])}
    view = ops.executor.request(
        "scale_deployment",
        params,
        actor=ctx.user,
        dry_run=dry,
        incident_id=of_service(ctx, args[0]),
    )
    return answer(ctx, view)


def cmd_restart(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) != 1:
        return say("Usage: /ops restart <service> [--dry-run]", ok=False)
    found = _deployment(ctx, args[0])
    if isinstance(found, str):
        return say(found, ok=False)
    view = ops.executor.request(
        "restart_deployment",
        {"namespace": found[0], "deployment": found[1]},
        actor=ctx.user,
        dry_run=dry,
        incident_id=of_service(ctx, args[0]),
    )
    return answer(ctx, view)


def cmd_rerun(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) != 1:
        known = ", ".join(sorted(ctx.catalog.pipelines)) or "none configured"
        return say(f"Usage: /ops rerun <pipeline> [--dry-run]   (pipelines: {known})", ok=False)
    pipeline = ctx.catalog.pipelines.get(args[0])
    view = ops.executor.request(
        "rerun_pipeline",
        {"pipeline": args[0]},
        actor=ctx.user,
        dry_run=dry,
        incident_id=of_service(ctx, pipeline.service if pipeline else None),
    )
    return answer(ctx, view)


def cmd_playbooks(ctx: CommandContext, args: list[str]) -> Reply:
    ops = ctx.ops
    if ops is None or not ops.playbooks:
        return say("No playbooks loaded.")
    lines = [f"{len(ops.playbooks)} playbook(s):"]
    for pb in sorted(ops.playbooks.values(), key=lambda p: p.name):
        steps = " → ".join(s.action for s in pb.steps)
        params = " ".join(f"{k}={v}" for k, v in pb.params.items())
        lines.append(f"{pb.name} — {pb.description.strip()}")
        lines.append(f"    steps: {steps}" + (f"; params: {params}" if params else ""))
    return say("\n".join(lines))


def cmd_run(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops run <playbook> <service> [key=value…] [--dry-run]"
    args, dry = split_flags(args)
    ops = ctx.ops
    if ops is None or ops.runner is None:
        return say("Playbooks are not available here.", ok=False)
    if len(args) < 2 or "=" in args[1]:
        return say(usage, ok=False)
    name, service, rest = args[0], args[1], args[2:]
    if name not in ops.playbooks:
        return say(f"No playbook `{name}`. Try /ops playbooks.", ok=False)
    pairs = [a.split("=", 1) for a in rest]
    if any(len(p) != 2 or not p[0] for p in pairs):
        return say(usage, ok=False)
    try:
        view = ops.runner.start(
            name,
            actor=ctx.user,
            context=service_context(ctx.catalog, service),
            params={k: v for k, v in pairs},
            incident_id=ctx.incident_id,
            dry_run=dry,
        )
    except (ValueError, PermissionError) as exc:
        return say(str(exc), ok=False)
    lines = [f"Playbook {name} run #{view.id}: {view.status}"]
    for step, result in view.steps.items():
        lines.append(f"  {step}: {result.get('summary')}")
    if view.waiting_for:
        lines.append(
            "Waiting for approval"
            + (f": approve {view.waiting_for}" if ctx.channel is None else " (buttons above)")
        )
    return say("\n".join(lines), public=not dry)


def cmd_approve(ctx: CommandContext, args: list[str]) -> Reply:
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) != 1:
        return say("Usage: /ops approve <token>", ok=False)
    view = ops.executor.approve(args[0], ctx.user)
    if not view.decided:
        # Refused, expired, unknown, or someone else's click counted: tell only this person.
        return say(view.message, ok=False)
    text, blocks = outcome(view, ctx.user)
    reply = Reply(text=text, blocks=blocks, public=True)
    if view.id is not None:
        run_id = view.id
        reply.then = lambda: resume_playbook(ops, run_id)
    return reply


def cmd_reject(ctx: CommandContext, args: list[str]) -> Reply:
    """An approver rejects a request, or its requester withdraws it (policy decides, as for
    approve); anyone else is told privately why not, and nothing changes."""
    return _turn_down(ctx, args, "reject")


def cmd_withdraw(ctx: CommandContext, args: list[str]) -> Reply:
    """The requester withdraws their own pending request."""
    return _turn_down(ctx, args, "withdraw")


def _turn_down(ctx: CommandContext, args: list[str], verb: str) -> Reply:
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) != 1:
        return say(f"Usage: /ops {verb} <token>", ok=False)
    decide = ops.executor.reject if verb == "reject" else ops.executor.cancel
    view = decide(args[0], ctx.user)
    if not view.decided:
        # Refused, expired, unknown, or already decided: tell only this person.
        return say(view.message, ok=False)
    text, blocks = outcome(view)
    reply = Reply(text=text, blocks=blocks, public=True)
    if view.id is not None:
        run_id = view.id
        # A playbook waiting on this step goes on to its end: a turned-down step fails it.
        reply.then = lambda: resume_playbook(ops, run_id)
    return reply


def resume_playbook(ops: Ops, action_run_id: int) -> None:
    """If the decided action run is a playbook step, let its playbook go on."""
    with Session(ops.executor.engine) as session:
        run = session.get(ActionRun, action_run_id)
        playbook_run_id = run.playbook_run_id if run else None
    if playbook_run_id is not None and ops.runner is not None:
        view = ops.runner.view(playbook_run_id)
        if view.status == "waiting" and view.waiting_for is None:
            ops.runner.resume(playbook_run_id)


ACTION_COMMANDS: dict[str, Handler] = {
    "rollback": cmd_rollback,
    "scale": cmd_scale,
    "restart": cmd_restart,
    "rerun": cmd_rerun,
    "playbooks": cmd_playbooks,
    "run": cmd_run,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "withdraw": cmd_withdraw,
}
