"""The root's "Page" button (``bot.render.paging.page_element``): a click runs ``/ops page`` for
that incident, as the person who clicked.

The value is only the incident's number; who clicked comes from Slack's signed body, and the page
goes through policy, audit, dry run and once-only like the typed command. The answer is for the
clicker alone (what was paged shows in the thread and on the root), except an approval request,
which goes into the incident's thread for the approvers.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands.paging import cmd_page
from bot.chat.slack.interaction import answering, asks_approval, clicked_value, context_for, user_of
from bot.render.paging import PAGE_ACTION
from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(PAGE_ACTION)
    async def page_clicked(
        ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        value = clicked_value(body)
        if not value.isdigit():
            await respond(
                text="That button is not one of opsbot's; nobody was paged.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        ctx = context_for(rt, user_of(body))
        reply = await answering(rt, cmd_page, ctx, [f"#{value}"])
        container = body.get("container") or {}
        channel, root_ts = container.get("channel_id"), container.get("message_ts")
        if asks_approval(reply) and channel and root_ts:
            await client.chat_postMessage(
                channel=channel, thread_ts=root_ts, text=reply.text, blocks=reply.blocks
            )
            return
        await respond(
            text=reply.text, blocks=reply.blocks, response_type="ephemeral", replace_original=False
        )
