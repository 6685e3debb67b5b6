"""``/ops …`` from Slack: the same commands as the console (``bot.chat.commands``); ``/ops
declare`` alone opens the declare form (``declare.py``)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands import run_command
from bot.chat.slack.declare import is_bare_declare, open_form
from bot.chat.slack.interaction import answering, context_for
from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.command("/ops")
    async def ops_command(
        ack: Any, command: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        text = command.get("text", "")
        if is_bare_declare(text):  # the form, not the command line
            await open_form(rt, client, str(command.get("trigger_id") or ""), None, respond)
            return
        ctx = context_for(rt, command.get("user_id", "?"), command.get("channel_id"))
        reply = await answering(rt, run_command, ctx, text)
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if reply.public else "ephemeral",
        )
