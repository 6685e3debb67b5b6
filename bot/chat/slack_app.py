"""The Bolt app: ``/ops``, buttons, reactions and @mentions in, replies out.

Listeners only translate a Slack request into a call of the domain and ``ack()`` at once; the
answer goes back through ``respond()`` (the command's response_url).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import anyio
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands import CommandContext, run_command
from bot.chat.commands.actions import cmd_approve, cmd_reject
from bot.chat.commands.jobs import cmd_stop
from bot.chat.slack_events_once import events_once
from bot.incidents.notes import pin_message, record_question
from bot.render.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.render.blocks import OFFER_ACTION
from bot.render.jobs import JOB_STOP_ACTION
from bot.runtime import Runtime
from bot.triage.mention import answer_mention

log = logging.getLogger(__name__)


def build_bolt_app(rt: Runtime, client: AsyncWebClient) -> AsyncApp:
    settings = rt.settings
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode has no signed HTTP requests to verify.
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,
    )
    # Slack retries an event it thinks was missed: each event_id is handled once (any replica).
    app.middleware(events_once(rt.engine, rt.metrics))

    background: set[asyncio.Task[Any]] = set()  # playbooks going on after an approval

    @app.command("/ops")
    async def ops_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        ctx = CommandContext(
            engine=rt.engine,
            user=command.get("user_id", "?"),
            channel=command.get("channel_id"),
            catalog=rt.catalog,
            ops=rt.ops,
            summaries=rt.summaries,
            change_window_min=settings.change_failure_window_min,
        )
        reply = await anyio.to_thread.run_sync(run_command, ctx, command.get("text", ""))
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if reply.public else "ephemeral",
        )

    async def decide(body: dict[str, Any], respond: Any, approve: bool) -> None:
        # The button carries only the opaque token; who clicked comes from Slack's signed body.
        token = str((body.get("actions") or [{}])[0].get("value") or "")
        user = str((body.get("user") or {}).get("id") or "?")
        ctx = CommandContext(engine=rt.engine, user=user, channel="slack", ops=rt.ops)
        command = cmd_approve if approve else cmd_reject
        reply = await anyio.to_thread.run_sync(command, ctx, [token])
        if reply.ok:
            # Replace the buttons with what happened, for everyone in the channel.
            await respond(text=reply.text, blocks=reply.blocks, replace_original=True)
        else:
            await respond(text=reply.text, response_type="ephemeral", replace_original=False)
        if reply.then is not None:
            task = asyncio.create_task(anyio.to_thread.run_sync(reply.then))
            background.add(task)
            task.add_done_callback(background.discard)

    @app.action(re.compile(rf"^{OFFER_ACTION}_\d+$"))
    async def playbook_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        value = str((body.get("actions") or [{}])[0].get("value") or "")
        user = str((body.get("user") or {}).get("id") or "?")
        text = await anyio.to_thread.run_sync(start_offered_playbook, rt, value, user)
        await respond(text=text, response_type="ephemeral", replace_original=False)

    @app.action(JOB_STOP_ACTION)
    async def stop_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        # A job message's Stop button: the value is the job's number; who clicked comes from
        # Slack's signed body, and the stop goes through policy and audit like `/ops stop`.
        await ack()
        job = str((body.get("actions") or [{}])[0].get("value") or "")
        user = str((body.get("user") or {}).get("id") or "?")
        if not job.isdigit():
            await respond(text="That button is not one of opsbot's.", response_type="ephemeral")
            return
        ctx = CommandContext(
            engine=rt.engine, user=user, channel="slack", catalog=rt.catalog, ops=rt.ops
        )
        reply = await anyio.to_thread.run_sync(cmd_stop, ctx, [job])
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if reply.public else "ephemeral",
            replace_original=False,
        )

    @app.action(APPROVE_ACTION)
    async def approve_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await decide(body, respond, approve=True)

    @app.action(REJECT_ACTION)
    async def reject_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await decide(body, respond, approve=False)

    @app.event("reaction_added")
    async def reaction_added(event: dict[str, Any], client: AsyncWebClient) -> None:
        # The timeline emoji on a message in an incident's thread puts it on the timeline.
        if event.get("reaction") != settings.timeline_emoji:
            return
        item = event.get("item") or {}
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        if item.get("type") != "message" or not channel or not ts:
            return
        found = await client.conversations_replies(
            channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=1
        )
        message = next((m for m in found.get("messages") or [] if m.get("ts") == ts), None)
        if message is None:
            return
        await anyio.to_thread.run_sync(
            lambda: pin_message(
                rt.engine,
                channel=channel,
                thread_ts=str(message.get("thread_ts") or ts),
                message_ts=ts,
                text=str(message.get("text") or ""),
                author=message.get("user") or message.get("bot_id"),
                actor=str(event.get("user") or "?"),
            )
        )

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], client: AsyncWebClient) -> None:
        # "@opsbot why is fraud-scorer slow?": read-only triage, answered in the thread.
        channel = str(event.get("channel") or "")
        thread_ts = event.get("thread_ts")
        user = str(event.get("user") or "?")
        text = str(event.get("text") or "")
        answer = await anyio.to_thread.run_sync(
            lambda: answer_mention(
                rt.engine,
                rt.catalog,
                channel=channel,
                thread_ts=thread_ts,
                user=user,
                text=text,
                llm=rt.llm,
                prom=rt.prom,
                token_budget=settings.llm_token_budget,
            )
        )
        await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts or event.get("ts"),
            text=answer.text,
            blocks=answer.blocks,
        )
        incident_id = answer.incident_id
        if incident_id is not None:
            await anyio.to_thread.run_sync(
                lambda: record_question(
                    rt.engine,
                    incident_id,
                    user=user,
                    question=text,
                    answered_with="llm" if answer.used_llm else "enrichment",
                )
            )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], respond: Any = None) -> None:
        log.exception("slack listener failed: %s", error)
        # Commands and clicks carry a response URL; an event (a mention, a reaction) has none,
        # and Bolt's respond() raises there.
        if respond is not None and body.get("response_url"):
            await respond(
                text=f"opsbot could not run that ({type(error).__name__}). "
                "Nothing was changed; try again, or use `/ops help`.",
                response_type="ephemeral",
            )

    return app


def start_offered_playbook(rt: Runtime, value: str, user: str) -> str:
    """A click on a root's "Run <playbook>" button. The value names an incident and a playbook;
    both are checked against what that incident offers, then the run asks for approvals."""
    from sqlmodel import Session

    from bot.runner.context import incident_context
    from bot.store.models import Incident

    incident_id, _, name = value.partition(":")
    if not incident_id.isdigit() or rt.ops is None or rt.ops.runner is None:
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
