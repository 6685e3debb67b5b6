"""What a listener reads from Slack's signed request body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from bot.chat.commands import CommandContext, Reply
from bot.render.approvals import APPROVE_ACTION
from bot.runtime import Runtime

T = TypeVar("T")


def clicked_value(body: dict[str, Any]) -> str:
    """The clicked button's value (or the chosen option's, for a select)."""
    action = (body.get("actions") or [{}])[0]
    option = action.get("selected_option") or {}
    return str(action.get("value") or option.get("value") or "")


def user_of(body: dict[str, Any]) -> str:
    """Who clicked, typed or opened: from Slack's signed body, never from a value."""
    return str((body.get("user") or {}).get("id") or body.get("user_id") or "?")


def asks_approval(reply: Reply) -> bool:
    """Whether the reply is an approval request (it carries the Approve button)."""
    return any(
        element.get("action_id") == APPROVE_ACTION
        for block in reply.blocks
        for element in block.get("elements") or []
        if isinstance(element, dict)
    )


def context_for(rt: Runtime, user: str, channel: str | None = "slack") -> CommandContext:
    """A command context for ``user`` on this runtime (the execution path, the catalog, the
    summaries, the report window)."""
    return CommandContext(
        engine=rt.engine,
        user=user,
        channel=channel,
        catalog=rt.catalog,
        ops=rt.ops,
        summaries=rt.summaries,
        change_window_min=rt.settings.change_failure_window_min,
        prometheus=rt.prom,
    )


async def answering(rt: Runtime, work: Callable[..., T], *args: Any) -> T:
    """Run a click's or a command's ``work`` in a worker thread, then wake the outbox: what it
    queued (the root redrawn, a line in the thread) is interactive and goes now, not at the
    sender's next poll, here or on the replica that sends."""
    try:
        return await anyio.to_thread.run_sync(work, *args)
    finally:
        rt.sender.wake()
