"""The root's "Silence alerts…" select: a choice runs ``/ops silence`` for that incident.

The option's value is ``<incident>:<choice>`` (``bot.render.silences.silence_element``); who
chose comes from Slack's signed body, and the silence goes through policy, audit and once-only
like the typed command. The answer is for the chooser alone (the thread and the root show the
silence itself), except an approval request, which the approvers must see.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.chat.commands.silences import silence_choice
from bot.chat.slack.interaction import answering, asks_approval, clicked_value, context_for, user_of
from bot.render.silences import SILENCE_ACTION
from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(SILENCE_ACTION)
    async def silence_chosen(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        ctx = context_for(rt, user_of(body))
        reply = await answering(rt, silence_choice, ctx, clicked_value(body))
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if asks_approval(reply) else "ephemeral",
            replace_original=False,
        )
