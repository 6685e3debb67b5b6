"""The controls on an incident's root (``bot/render/incident_controls.py``): Acknowledge,
Resolve, "I'll lead" and the severity select. A click runs the same command as typing it, as
the person who clicked (policy, audit and once-only as for the command), and the answer goes
only to them: what changed shows on the root, in the thread and on the timeline."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.chat.commands.base import Handler, Reply
from bot.chat.commands.incident_moves import cmd_lead, cmd_severity
from bot.chat.commands.incident_status import cmd_ack, cmd_resolve
from bot.chat.slack.interaction import answering, clicked_value, context_for, user_of
from bot.render.incident_controls import (
    ACK_ACTION,
    LEAD_ACTION,
    RESOLVE_ACTION,
    SEVERITY_ACTION,
)
from bot.runtime import Runtime


def command_for(action_id: str, value: str) -> tuple[Handler, list[str]] | None:
    """The command a control's click stands for, or None for a value that is not opsbot's."""
    if action_id == SEVERITY_ACTION:
        incident, _, severity = value.partition(":")
        if not incident.isdigit() or not severity:
            return None
        return cmd_severity, [severity, f"#{incident}"]
    if not value.isdigit():
        return None
    if action_id == ACK_ACTION:
        return cmd_ack, [f"#{value}"]
    if action_id == RESOLVE_ACTION:
        return cmd_resolve, [f"#{value}"]
    if action_id == LEAD_ACTION:
        return cmd_lead, ["me", f"#{value}"]
    return None


def register(app: AsyncApp, rt: Runtime) -> None:
    async def clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        action_id = str((body.get("actions") or [{}])[0].get("action_id") or "")
        found = command_for(action_id, clicked_value(body))
        if found is None:
            await respond(text="That control is not one of opsbot's.", response_type="ephemeral")
            return
        handler, args = found
        ctx = context_for(rt, user_of(body))
        reply: Reply = await answering(rt, handler, ctx, args)
        await respond(text=reply.text, response_type="ephemeral", replace_original=False)

    for action_id in (ACK_ACTION, RESOLVE_ACTION, LEAD_ACTION, SEVERITY_ACTION):
        app.action(action_id)(clicked)
