"""The buttons opsbot posts: Approve / Reject on an approval request, Stop on a job's message,
Run <playbook> on an incident's root. A button carries only an opaque value; who clicked comes
from Slack's signed body, and every click goes through policy and audit like the command.
Approve / Reject and Stop are on the App Home tab too: there the answer redraws the tab."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlmodel import Session

from bot.chat.commands.actions import cmd_approve, cmd_reject
from bot.chat.commands.jobs import cmd_stop
from bot.chat.slack.home import from_home, home_clicked
from bot.chat.slack.interaction import answering, clicked_value, context_for, user_of
from bot.render.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.render.blocks import OFFER_ACTION
from bot.render.jobs import JOB_STOP_ACTION
from bot.runner.context import incident_context
from bot.runtime import Runtime
from bot.store.models import Incident


def register(app: AsyncApp, rt: Runtime) -> None:
    background: set[asyncio.Task[Any]] = set()  # playbooks going on after an approval

    async def decide(body: dict[str, Any], respond: Any, approve: bool) -> None:
        ctx = context_for(rt, user_of(body))
        command = cmd_approve if approve else cmd_reject
        reply = await answering(rt, command, ctx, [clicked_value(body)])
        if from_home(body):  # the App Home tab: no response URL; the tab is redrawn instead
            await home_clicked(rt, ctx.user, reply.text)
        elif reply.ok:
            # Replace the buttons with what happened, for everyone in the channel.
            await respond(text=reply.text, blocks=reply.blocks, replace_original=True)
        else:
            await respond(text=reply.text, response_type="ephemeral", replace_original=False)
        if reply.then is not None:
            task = asyncio.create_task(answering(rt, reply.then))
            background.add(task)
            task.add_done_callback(background.discard)

    @app.action(APPROVE_ACTION)
    async def approve_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await decide(body, respond, approve=True)

    @app.action(REJECT_ACTION)
    async def reject_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await decide(body, respond, approve=False)

    @app.action(re.compile(rf"^{OFFER_ACTION}_\d+$"))
    async def playbook_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        value, user = clicked_value(body), user_of(body)
        text = await answering(rt, start_offered_playbook, rt, value, user)
        await respond(text=text, response_type="ephemeral", replace_original=False)

    @app.action(JOB_STOP_ACTION)
    async def stop_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        # The value is the job's number; the stop goes through policy and audit like `/ops stop`.
        await ack()
        job = clicked_value(body)
        if not job.isdigit():
            await respond(text="That button is not one of opsbot's.", response_type="ephemeral")
            return
        reply = await answering(rt, cmd_stop, context_for(rt, user_of(body)), [job])
        if from_home(body):
            await home_clicked(rt, user_of(body), reply.text)
            return
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if reply.public else "ephemeral",
            replace_original=False,
        )


def start_offered_playbook(rt: Runtime, value: str, user: str) -> str:
    """A click on a root's "Run <playbook>" button. The value names an incident and a playbook;
    both are checked against what that incident offers, then the run asks for approvals."""
    incident_id, _, name = value.partition(":")
    if not incident_id.isdigit() or rt.ops.runner is None:
        return "That button is not one of opsbot's; nothing was started."
    with Session(rt.engine) as session:
        incident = session.get(Incident, int(incident_id))
        if incident is None or name not in incident.playbooks:
            return "That playbook is not offered for this incident; nothing was started."
        context = incident_context(session, incident, rt.catalog)
    try:
        view = rt.ops.runner.start(name, actor=user, context=context, incident_id=int(incident_id))
    except PermissionError as exc:
        return str(exc)
    if view.status == "waiting":
        return f"Started {name} (run #{view.id}); its first step waits for approval in the thread."
    return f"Ran {name} (run #{view.id}): {view.status}."
