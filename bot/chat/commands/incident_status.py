"""``/ops ack`` and ``/ops resolve``: here and on the incident's PagerDuty incident, as one
person."""

from __future__ import annotations

from bot.chat.commands.base import CommandContext, Handler, Reply, ready, say
from bot.chat.commands.incident_ref import only_argument
from bot.incidents.operator import set_status
from bot.store.run_models import RunStatus


def _ack_or_resolve(ctx: CommandContext, args: list[str], verb: str) -> Reply:
    """Acknowledge / resolve an incident here and on its PagerDuty incident, as one person.

    PagerDuty goes through the action path (policy, audit); when it refuses or fails, the
    incident here is left as it was and the reply says why. PagerDuty's own webhook, when it
    arrives, changes nothing more (the incident is already in that state)."""
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    incident_id = only_argument(ctx, args)
    if incident_id is None:
        return say(f"Usage: /ops {verb} <incident id>", ok=False)
    pd_id = set_status(ctx.engine, incident_id, verb, ctx.user, dry=True)
    if isinstance(pd_id, Exception):
        return say(str(pd_id), ok=False)
    lines = []
    if pd_id:
        action = "pagerduty_ack" if verb == "ack" else "pagerduty_resolve"
        view = ops.executor.request(
            action, {"incident_id": pd_id}, actor=ctx.user, incident_id=incident_id
        )
        if view.status not in (RunStatus.SUCCEEDED,):
            return say(f"PagerDuty {pd_id}: {view.message}", ok=False)
        lines.append(f"PagerDuty {pd_id}: {view.message}")
    done = set_status(ctx.engine, incident_id, verb, ctx.user, dry=False)
    if isinstance(done, Exception):
        return say(str(done), ok=False)
    word = "acknowledged" if verb == "ack" else "resolved"
    lines.insert(0, f"#{incident_id} {word} by <@{ctx.user}>.")
    return say("\n".join(lines), public=True)


def cmd_ack(ctx: CommandContext, args: list[str]) -> Reply:
    return _ack_or_resolve(ctx, args, "ack")


def cmd_resolve(ctx: CommandContext, args: list[str]) -> Reply:
    return _ack_or_resolve(ctx, args, "resolve")


STATUS_COMMANDS: dict[str, Handler] = {"ack": cmd_ack, "resolve": cmd_resolve}
