"""The App Home tab: ``app_home_opened`` publishes the opener's home (``bot.home``) and makes them
a viewer, whose tab the ``homes`` loop keeps current. The tab's buttons are the approval and job
messages' own (``buttons.py`` decides them, then redraws the tab through ``home_clicked``)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from bot.text.mrkdwn import escape

_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,20})&gt;")


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        # Bolt acks an event before its listener runs. The Messages tab has nothing of ours.
        user = str(event.get("user") or "")
        if event.get("tab") != "home" or not _USER.match(user):
            return
        view = event.get("view")
        await rt.homes.opened(user, view if isinstance(view, dict) else None)


def from_home(body: dict[str, Any]) -> bool:
    """Whether a click came from a button on the App Home tab (which has no response URL)."""
    container = body.get("container") or {}
    return container.get("type") == "view" and (body.get("view") or {}).get("type") == "home"


async def home_clicked(rt: Runtime, user: str, answer: str) -> None:
    """A click on the tab was answered: redraw the clicker's tab with ``answer`` on top (escaped;
    the mentions the answer makes of Slack users stay mentions)."""
    notice = _ESCAPED_MENTION.sub(r"<@\1>", escape(answer))
    await rt.homes.clicked(user, notice)
