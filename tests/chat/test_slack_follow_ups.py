"""Follow-ups in Slack, through Bolt: a `todo:` note becomes an item, the summary in the thread
has its Done button, a click marks it done as the clicker (answered privately), a second click
changes nothing, and the summary is redrawn with the item ticked off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from bot.store.models import TimelineEvent
from bot.store.oncall_models import FollowUp, FollowUpState
from bot.summary.slack import FOLLOW_UP_DONE_ACTION, FOLLOW_UPS_DONE, FOLLOW_UPS_OPEN
from tests.fakes.slack.api import SlackEmulator
from tests.fakes.slack.blocks import validate_blocks
from tests.support.asgi import asgi_client
from tests.support.slack_requests import click, post, slash_command

CHANNEL = "C0INCIDENT"
CATALOG = """
services:
  fraud-scorer: {namespace: ml-serving}
severities: [sev1, sev2, sev3]
"""


@pytest.fixture
async def client(slack_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(
        slack_app(
            CATALOG,
            incident_channel=CHANNEL,
            slack_channel_rate=50,
            slack_channel_burst=50,
        )
    ) as c:
        yield c


async def command(
    client: httpx.AsyncClient, slack: SlackEmulator, text: str, name: str
) -> dict[str, Any]:
    await post(client, slash_command(text, slack.response_url(name)))
    await slack.await_for(lambda: len(slack.responses(name)) == 1, timeout=10)
    [reply] = slack.responses(name)
    return reply


async def clicked(
    client: httpx.AsyncClient, slack: SlackEmulator, value: str, user: str, name: str
) -> str:
    await post(client, click(f"{FOLLOW_UP_DONE_ACTION}_0", value, user, slack.response_url(name)))
    await slack.await_for(lambda: len(slack.responses(name)) == 1, timeout=10)
    [reply] = slack.responses(name)
    assert reply["response_type"] == "ephemeral"
    return str(reply["text"])


def summary_message(slack: SlackEmulator) -> dict[str, Any]:
    [found] = [
        m
        for m in slack.messages(CHANNEL)
        if any(b.get("block_id") == FOLLOW_UPS_OPEN for b in m.get("blocks") or [])
        or any(b.get("block_id") == FOLLOW_UPS_DONE for b in m.get("blocks") or [])
    ]
    return found


def block(message: dict[str, Any], block_id: str) -> dict[str, Any] | None:
    return next((b for b in message["blocks"] if b.get("block_id") == block_id), None)


async def test_a_todo_note_gets_a_done_button_that_works_once(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await command(client, slack, "declare --service fraud-scorer drift on fraud", "declare")
    await rt.sender.drain()
    noted = await command(client, slack, "note #1 todo: <@U0BOB> add a drift alert", "note")
    assert "Tracked as follow-up #1" in str(noted["text"])
    await command(client, slack, "note #1 follow-up: review the alert rule", "note2")
    await command(client, slack, "summary #1", "summary")
    await rt.sender.drain()

    posted = summary_message(slack)
    assert posted["thread_ts"] is not None
    assert validate_blocks(posted["blocks"]) == []
    buttons = block(posted, FOLLOW_UPS_OPEN)
    assert buttons is not None
    assert [e["value"] for e in buttons["elements"]] == ["1", "2"]

    assert await clicked(client, slack, "1", "U0BOB", "bob") == (
        "Done: Follow-up #1 done: add a drift alert"
    )
    assert "already done by <@U0BOB>" in await clicked(client, slack, "1", "U0ALICE", "alice")
    assert "not one of opsbot's" in await clicked(client, slack, "1; drop", "U0BOB", "forged")
    assert "there is no follow-up #9" in await clicked(client, slack, "9", "U0BOB", "unknown")

    engine = rt.engine
    with Session(engine) as session:
        first = session.get(FollowUp, 1)
        done_events = session.exec(
            select(TimelineEvent).where(TimelineEvent.kind == "follow_up_done")
        ).all()
    assert first is not None
    assert (first.state, first.done_by) == (FollowUpState.DONE, "U0BOB")
    assert [e.actor for e in done_events] == ["U0BOB"]

    # The summary in the thread is edited: #2's button is left, #1 is ticked off.
    await rt.sender.drain()
    edited = summary_message(slack)
    assert edited["ts"] == posted["ts"]
    assert validate_blocks(edited["blocks"]) == []
    buttons = block(edited, FOLLOW_UPS_OPEN)
    assert buttons is not None
    assert [e["value"] for e in buttons["elements"]] == ["2"]
    done = block(edited, FOLLOW_UPS_DONE)
    assert done is not None
    assert done["elements"][0]["text"] == "✓ #1 add a drift alert — done by <@U0BOB>"
