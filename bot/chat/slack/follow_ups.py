"""The summary's Done buttons (``bot/summary/slack.py``): a click runs ``/ops followup done
<n>`` as the person who clicked (policy, audit and once-only as for the command), and the answer
goes only to them; the summary itself is redrawn with the item done (``summary_update``)."""

from __future__ import annotations

import re
from typing import Any

import anyio
from slack_bolt.async_app import AsyncApp

from bot.chat.commands.follow_ups import cmd_followup
from bot.chat.slack.interaction import clicked_value, context_for, user_of
from bot.runtime import Runtime
from bot.summary.slack import FOLLOW_UP_DONE_ACTION


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(re.compile(rf"^{FOLLOW_UP_DONE_ACTION}_\d+$"))
    async def done_clicked(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        value = clicked_value(body)
        if not value.isdigit():
            await respond(text="That button is not one of opsbot's.", response_type="ephemeral")
            return
        ctx = context_for(rt, user_of(body))
        reply = await anyio.to_thread.run_sync(cmd_followup, ctx, ["done", value])
        rt.sender.wake()  # the summary's redraw
        await respond(text=reply.text, response_type="ephemeral", replace_original=False)
