"""An incident's thread as the @mention tests drive it: open an incident, post a mention, and
read opsbot's answers as Slack shows them (edits applied)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import engine_of
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest


async def incident_root(client: httpx.AsyncClient, slack: SlackEmulator, channel: str) -> str:
    """Open an incident for fraud-scorer; its root's ``ts`` once its first reply is in."""
    ingest(engine_of(client), am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await slack.await_for(lambda: len(slack.roots(channel)) == 1, timeout=10)
    root = str(slack.roots(channel)[0]["ts"])
    await slack.await_for(lambda: len(slack.replies(channel, root)) >= 1, timeout=10)
    return root


def mention_event(
    channel: str, root: str, n: int, question: str = "why is fraud-scorer slow?"
) -> dict[str, Any]:
    """The ``app_mention`` event of U0ALICE's ``n``-th question in the thread of ``root``."""
    ts = f"1700000100.{n:06d}"
    return {
        "type": "app_mention",
        "user": "U0ALICE",
        "text": f"<@U0BOT> {question}",
        "ts": ts,
        "channel": channel,
        "thread_ts": root,
        "event_ts": ts,
    }


def shown(message: dict[str, Any]) -> str:
    """A message's text and blocks, as one string to look for words in."""
    return str(message.get("text", "")) + json.dumps(
        message.get("blocks") or [], ensure_ascii=False
    )


def answers(slack: SlackEmulator, channel: str, root: str) -> list[dict[str, Any]]:
    """opsbot's replies in the thread that answer a mention (they carry the working marker, the
    enrichment's note or the triage footer), as Slack shows them now."""
    found = []
    for reply in slack.replies(channel, root):
        blocks = json.dumps(reply.get("blocks") or [], ensure_ascii=False)
        if "Working on it" in blocks or "enrichment" in blocks or "Read:" in blocks:
            found.append(reply)
    return found
