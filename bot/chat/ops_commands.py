"""The remediation commands: rollback, scale, restart, rerun, playbooks, run, approve, reject,
withdraw.

Each asks the one execution path (``bot/runner/execute.py``): policy, audit, plan, approval.
``--dry-run`` anywhere in a command shows the plan and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.chat.approval_blocks import approval_request, outcome
from bot.incidents.queries import the_open_incident_of
from bot.runner.context import service_context
from bot.store.run_models import RunStatus

if TYPE_CHECKING:
    from bot.chat.commands import CommandContext, Reply
    from bot.runner.execute import Executor, RunView
    from bot.runner.graph import PlaybookRunner
    from bot.runner.playbook import Playbook


@dataclass
class Ops:
    executor: Executor
    runner: PlaybookRunner | None = None
    playbooks: dict[str, Playbook] = field(default_factory=dict)


def _reply(
    text: str, blocks: list[dict[str, Any]] | None = None, *, ok: bool = True, public: bool = False
) -> Reply:
    from bot.chat.commands import Reply
    from bot.chat.commands import _reply as plain

    if blocks is None:
        reply = plain(text.splitlines(), ok=ok)
        reply.public = public
        return reply
    return Reply(text=text, blocks=blocks, ok=ok, public=public)


def _split_flags(args: list[str]) -> tuple[list[str], bool]:
    dry = "--dry-run" in args
    return [a for a in args if a != "--dry-run"], dry


def _ops(ctx: CommandContext) -> Ops | None:
    ops: Ops | None = ctx.ops
    return ops


def _answer(ctx: CommandContext, view: RunView) -> Reply:
    if view.status == RunStatus.AWAITING_APPROVAL and view.approval_token:
        text, blocks = approval_request(view, ctx.user, view.approval_token)
        if ctx.channel is None:  # the console: no buttons
            lines = [text, *[f"  {line}" for line in view.plan.get("lines", [])]]
            lines.append(f"Approve with: approve {view.approval_token}")
            return _reply("\n".join(lines), public=True)
        return _reply(text, blocks, public=True)
    text, blocks = outcome(view)
    ok = view.status not in (RunStatus.REFUSED, RunStatus.FAILED)
    # Results are for the channel; refusals and dry runs only for whoever asked.
    public = view.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    return _reply(text, blocks, ok=ok, public=public)


def _deployment(ctx: CommandContext, service: str) -> tuple[str, str] | str:
    entry = ctx.catalog.get(service)
    if entry is None or not entry.namespace or not entry.deployments:
        return f"{service} has no Kubernetes namespace and Deployment in the service catalog."
    return entry.namespace, entry.deployments[0]


def _incident_for(ctx: CommandContext, service: str | None) -> int | None:
    """The incident a command acts for: the context's, else the service's one open incident
    (so ``/ops rollback fraud-scorer`` during its incident lands on that incident's timeline)."""
    if ctx.incident_id is not None:
        return ctx.incident_id
    with Session(ctx.engine) as session:
        return the_open_incident_of(session, service)


def _not_ready(ctx: CommandContext) -> Reply | None:
    if _ops(ctx) is None:
        return _reply("Actions are not available here.", ok=False)
    return None


def cmd_rollback(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops rollback <service> [to <revision>] [--dry-run]"
    args, dry = _split_flags(args)
    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    if len(args) not in (1, 3) or (len(args) == 3 and (args[1] != "to" or not args[2].isdigit())):
        return _reply(usage, ok=False)
    found = _deployment(ctx, args[0])
    if isinstance(found, str):
        return _reply(found, ok=False)
    params: dict[str, Any] = {"namespace": found[0], "deployment": found[1]}
    if len(args) == 3:
        params["to_revision"] = int(args[2])
    view = ctx.ops.executor.request(
        "rollback_deployment",
        params,
        actor=ctx.user,
        dry_run=dry,
        incident_id=_incident_for(ctx, args[0]),
    )
    return _answer(ctx, view)


def cmd_scale(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = _split_flags(args)
    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    if len(args) != 2 or not args[1].isdigit():
        return _reply("Usage: /ops scale <service> <replicas> [--dry-run]", ok=False)
    found = _deployment(ctx, args[0])
    if isinstance(found, str):
        return _reply(found, ok=False)
    params = {"namespace": found[0], "deployment": found[1], "replicas": int(args[1])}
    view = ctx.ops.executor.request(
        "scale_deployment",
        params,
        actor=ctx.user,
        dry_run=dry,
        incident_id=_incident_for(ctx, args[0]),
    )
    return _answer(ctx, view)


def cmd_restart(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = _split_flags(args)
    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    if len(args) != 1:
        return _reply("Usage: /ops restart <service> [--dry-run]", ok=False)
    found = _deployment(ctx, args[0])
    if isinstance(found, str):
        return _reply(found, ok=False)
    view = ctx.ops.executor.request(
        "restart_deployment",
        {"namespace": found[0], "deployment": found[1]},
        actor=ctx.user,
        dry_run=dry,
        incident_id=_incident_for(ctx, args[0]),
    )
    return _answer(ctx, view)


def cmd_rerun(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = _split_flags(args)
    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    if len(args) != 1:
        known = ", ".join(sorted(ctx.catalog.pipelines)) or "none configured"
        return _reply(f"Usage: /ops rerun <pipeline> [--dry-run]   (pipelines: {known})", ok=False)
    pipeline = ctx.catalog.pipelines.get(args[0])
    view = ctx.ops.executor.request(
        "rerun_pipeline",
        {"pipeline": args[0]},
        actor=ctx.user,
        dry_run=dry,
        incident_id=_incident_for(ctx, pipeline.service if pipeline else None),
    )
    return _answer(ctx, view)


def cmd_playbooks(ctx: CommandContext, args: list[str]) -> Reply:
    ops = _ops(ctx)
    if ops is None or not ops.playbooks:
        return _reply("No playbooks loaded.")
    lines = [f"{len(ops.playbooks)} playbook(s):"]
    for pb in sorted(ops.playbooks.values(), key=lambda p: p.name):
        steps = " → ".join(s.action for s in pb.steps)
        params = " ".join(f"{k}={v}" for k, v in pb.params.items())
        lines.append(f"{pb.name} — {pb.description.strip()}")
        lines.append(f"    steps: {steps}" + (f"; params: {params}" if params else ""))
    return _reply("\n".join(lines))


def cmd_run(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops run <playbook> <service> [key=value…] [--dry-run]"
    args, dry = _split_flags(args)
    ops = _ops(ctx)
    if ops is None or ops.runner is None:
        return _reply("Playbooks are not available here.", ok=False)
    if len(args) < 2 or "=" in args[1]:
        return _reply(usage, ok=False)
    name, service, rest = args[0], args[1], args[2:]
    if name not in ops.playbooks:
        return _reply(f"No playbook `{name}`. Try /ops playbooks.", ok=False)
    pairs = [a.split("=", 1) for a in rest]
    if any(len(p) != 2 or not p[0] for p in pairs):
        return _reply(usage, ok=False)
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
        return _reply(str(exc), ok=False)
    lines = [f"Playbook {name} run #{view.id}: {view.status}"]
    for step, result in view.steps.items():
        lines.append(f"  {step}: {result.get('summary')}")
    if view.waiting_for:
        lines.append(
            "Waiting for approval"
            + (f": approve {view.waiting_for}" if ctx.channel is None else " (buttons above)")
        )
    return _reply("\n".join(lines), public=not dry)


def cmd_approve(ctx: CommandContext, args: list[str]) -> Reply:
    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    if len(args) != 1:
        return _reply("Usage: /ops approve <token>", ok=False)
    ops = ctx.ops
    view = ops.executor.approve(args[0], ctx.user)
    if not view.decided:
        # Refused, expired, unknown, or someone else's click counted: tell only this person.
        return _reply(view.message, ok=False)
    text, blocks = outcome(view, ctx.user)
    reply = _reply(text, blocks, public=True)
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
    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    if len(args) != 1:
        return _reply(f"Usage: /ops {verb} <token>", ok=False)
    ops = ctx.ops
    decide = ops.executor.reject if verb == "reject" else ops.executor.cancel
    view = decide(args[0], ctx.user)
    if not view.decided:
        # Refused, expired, unknown, or already decided: tell only this person.
        return _reply(view.message, ok=False)
    text, blocks = outcome(view)
    reply = _reply(text, blocks, public=True)
    if view.id is not None:
        run_id = view.id
        # A playbook waiting on this step goes on to its end: a turned-down step fails it.
        reply.then = lambda: resume_playbook(ops, run_id)
    return reply


def resume_playbook(ops: Ops, action_run_id: int) -> None:
    """If the decided action run is a playbook step, let its playbook go on."""
    from sqlmodel import Session

    from bot.store.run_models import ActionRun

    with Session(ops.executor.engine) as session:
        run = session.get(ActionRun, action_run_id)
        playbook_run_id = run.playbook_run_id if run else None
    if playbook_run_id is not None and ops.runner is not None:
        view = ops.runner.view(playbook_run_id)
        if view.status == "waiting" and view.waiting_for is None:
            ops.runner.resume(playbook_run_id)


def _incident_arg(ctx: CommandContext, args: list[str]) -> int | None:
    if len(args) == 1 and args[0].lstrip("#").isdigit():
        return int(args[0].lstrip("#"))
    if not args and ctx.incident_id is not None:
        return ctx.incident_id
    return None


def _ack_or_resolve(ctx: CommandContext, args: list[str], verb: str) -> Reply:
    """Acknowledge / resolve an incident here and on its PagerDuty incident, as one person.

    PagerDuty goes through the action path (policy, audit); when it refuses or fails, the
    incident here is left as it was and the reply says why. PagerDuty's own webhook, when it
    arrives, changes nothing more (the incident is already in that state)."""
    from bot.incidents.operator import set_status

    if (refusal := _not_ready(ctx)) is not None:
        return refusal
    incident_id = _incident_arg(ctx, args)
    if incident_id is None:
        return _reply(f"Usage: /ops {verb} <incident id>", ok=False)
    pd_id = set_status(ctx.engine, incident_id, verb, ctx.user, dry=True)
    if isinstance(pd_id, Exception):
        return _reply(str(pd_id), ok=False)
    lines = []
    if pd_id:
        action = "pagerduty_ack" if verb == "ack" else "pagerduty_resolve"
        view = ctx.ops.executor.request(
            action, {"incident_id": pd_id}, actor=ctx.user, incident_id=incident_id
        )
        if view.status not in (RunStatus.SUCCEEDED,):
            return _reply(f"PagerDuty {pd_id}: {view.message}", ok=False)
        lines.append(f"PagerDuty {pd_id}: {view.message}")
    done = set_status(ctx.engine, incident_id, verb, ctx.user, dry=False)
    if isinstance(done, Exception):
        return _reply(str(done), ok=False)
    word = "acknowledged" if verb == "ack" else "resolved"
    lines.insert(0, f"#{incident_id} {word} by <@{ctx.user}>.")
    return _reply("\n".join(lines), public=True)


def cmd_ack(ctx: CommandContext, args: list[str]) -> Reply:
    return _ack_or_resolve(ctx, args, "ack")


def cmd_resolve(ctx: CommandContext, args: list[str]) -> Reply:
    return _ack_or_resolve(ctx, args, "resolve")


OPS_COMMANDS = {
    "ack": cmd_ack,
    "resolve": cmd_resolve,
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
