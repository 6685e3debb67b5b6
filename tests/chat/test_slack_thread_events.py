"""Slack events on an incident's thread, through Bolt with signed requests: the timeline emoji on
a message puts it on the timeline (once); an @mention gets a read-only answer in the thread."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.store.models import TimelineEvent
from bot.store.run_models import ActionRun
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client, engine_of
from tests.support.payloads import am_alert, am_payload
from tests.support.slack_requests import SIGNING_SECRET, post_event, post_message
from tests.support.store import ingest

CHANNEL = "C0INCIDENT"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator
) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        timeline_emoji="pushpin",
        slack_channel_rate=20,
        slack_channel_burst=20,
    )
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        yield c


def timeline(engine: Engine, kind: str) -> list[TimelineEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(TimelineEvent)
                .where(TimelineEvent.kind == kind)
                .order_by(col(TimelineEvent.id))
            ).all()
        )


async def incident_thread(client: httpx.AsyncClient, slack: SlackEmulator) -> tuple[str, str]:
    """Open an incident; (its root ts, the ts of the first reply in its thread)."""
    ingest(engine_of(client), am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await slack.await_for(lambda: len(slack.roots(CHANNEL)) == 1, timeout=10)
    root = slack.roots(CHANNEL)[0]["ts"]
    await slack.await_for(lambda: len(slack.replies(CHANNEL, root)) >= 1, timeout=10)
    return root, slack.replies(CHANNEL, root)[0]["ts"]


def reaction(emoji: str, ts: str, user: str = "U0ALICE") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": emoji,
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        "event_ts": "1700000001.000100",
    }


async def test_the_timeline_emoji_pins_a_thread_message_once(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    engine = engine_of(client)
    _, reply_ts = await incident_thread(client, slack)
    reply_text = next(m["text"] for m in slack.messages(CHANNEL) if m["ts"] == reply_ts)

    await post_event(client, reaction("eyes", reply_ts, user="U0EVE"), "Ev1")  # another emoji
    await post_event(client, reaction("pushpin", reply_ts), "Ev2")
    await slack.await_for(lambda: len(timeline(engine, "note")) == 1, timeout=10)
    await post_event(client, reaction("pushpin", reply_ts, user="U0BOB"), "Ev3")  # again: still one
    await slack.await_for(
        lambda: timeline(engine, "note")[0].data.get("reactors") == ["U0ALICE", "U0BOB"],
        timeout=10,
    )

    [note] = timeline(engine, "note")
    assert note.actor == "U0ALICE"
    assert note.text == reply_text
    assert note.data["via"] == "reaction"
    assert note.data["message_ts"] == reply_ts
    assert len(slack.calls("conversations.replies")) == 2  # :eyes: was not even looked up


async def test_a_reaction_outside_incident_threads_adds_nothing(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    engine = engine_of(client)
    _, reply_ts = await incident_thread(client, slack)
    posted = await post_message(slack, "lunch?")
    await post_event(client, reaction("pushpin", posted), "Ev9")
    # Then one in the thread: once that is on the timeline, the first was handled too.
    await post_event(client, reaction("pushpin", reply_ts, user="U0BOB"), "Ev10")
    await slack.await_for(lambda: len(timeline(engine, "note")) == 1, timeout=10)
    [note] = timeline(engine, "note")
    assert note.data["message_ts"] == reply_ts
    assert len(slack.calls("conversations.replies")) == 2


async def test_a_mention_in_the_thread_gets_the_enrichment_answer_without_an_llm(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    engine = engine_of(client)
    root, _ = await incident_thread(client, slack)
    before = len(slack.replies(CHANNEL, root))
    await post_event(
        client,
        {
            "type": "app_mention",
            "user": "U0ALICE",
            "text": "<@U0BOT> why is fraud-scorer slow? <!channel>",
            "ts": "1700000002.000100",
            "channel": CHANNEL,
            "thread_ts": root,
            "event_ts": "1700000002.000100",
        },
        "Ev10",
    )
    await slack.await_for(lambda: len(slack.replies(CHANNEL, root)) > before, timeout=10)
    answer = slack.replies(CHANNEL, root)[-1]
    everything = answer["text"] + json.dumps(answer["blocks"])
    assert "<!channel>" not in everything
    await slack.await_for(lambda: len(timeline(engine, "triage")) == 1, timeout=10)
    [asked] = timeline(engine, "triage")
    assert asked.actor == "U0ALICE"
    assert asked.data == {"answered_with": "enrichment"}
    with Session(engine) as s:
        assert s.exec(select(ActionRun)).all() == []
