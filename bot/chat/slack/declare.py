"""Declaring an incident from Slack: ``/ops declare`` alone and the message shortcut "Declare
incident from this message" open the form (``bot/render/declare.py``); its submission declares
through the same command path as ``/ops declare …`` (policy, audit, once). A refusal is shown in
the form itself; once declared, the form closes and the incident's root appears in its channel.
Paging on-call, when asked, runs after the form has closed (PagerDuty may be slow) and says how
it went in the incident's thread."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands.incident_moves import declare, declare_params, page_declared
from bot.chat.slack.interaction import context_for, user_of
from bot.render.declare import DECLARE_VIEW, TITLE, Quote, declare_view, read_submission
from bot.runtime import Runtime
from bot.store.run_models import RunStatus

log = logging.getLogger(__name__)

SHORTCUT = "opsbot_declare_from_message"


def is_bare_declare(text: str) -> bool:
    """``/ops declare`` with nothing after it: Slack opens the form."""
    return text.split() == ["declare"]


async def open_form(
    rt: Runtime, client: AsyncWebClient, trigger_id: str, quote: Quote | None, respond: Any
) -> None:
    """Open the form; when Slack refuses (the trigger expired: the click took over 3 s to reach
    opsbot), tell the person privately how to declare anyway."""
    view = declare_view(list(rt.catalog.services), rt.catalog.severities, quote)
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        log.warning("the declare form did not open: %s", error or exc)
        await respond(
            text=f"The declare form could not open ({error or 'Slack refused it'}). Try again, "
            "or type `/ops declare [--service S] [--severity sev2] <title>`.",
            response_type="ephemeral",
        )


def quote_of(body: dict[str, Any]) -> Quote:
    """The shortcut's message, with its permalink built from the team's domain."""
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id") or "")
    ts = str(message.get("ts") or body.get("message_ts") or "")
    domain = str((body.get("team") or {}).get("domain") or "")
    link = None
    if domain and channel and ts:
        link = f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    author = message.get("user")
    return Quote(str(message.get("text") or ""), str(author) if author else None, link)


def register(app: AsyncApp, rt: Runtime) -> None:
    background: set[asyncio.Task[Any]] = set()

    @app.shortcut(SHORTCUT)
    async def from_message(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any
    ) -> None:
        await ack()
        trigger_id = str(body.get("trigger_id") or "")
        await open_form(rt, client, trigger_id, quote_of(body), respond)

    @app.view(DECLARE_VIEW)
    async def submitted(ack: Any, body: dict[str, Any]) -> None:
        form = read_submission(body.get("view") or {})
        ctx = context_for(rt, user_of(body))
        params = declare_params(
            ctx,
            title=form.title,
            service=form.service,
            severity=form.severity,
            description=form.description,
            quote=(form.quote.text, form.quote.author, form.quote.link) if form.quote else None,
        )
        user = ctx.user
        view = await anyio.to_thread.run_sync(lambda: declare(rt.ops, user, params))
        if view.status != RunStatus.SUCCEEDED:
            await ack(response_action="errors", errors={TITLE: view.message[:300]})
            return
        await ack()
        if form.page:
            paging = anyio.to_thread.run_sync(page_declared, rt.ops, user, params, view)
            task = asyncio.create_task(paging)
            background.add(task)
            task.add_done_callback(background.discard)
