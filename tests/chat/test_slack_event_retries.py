"""Slack resends an event it thinks was missed (X-Slack-Retry-Num): an @mention delivered twice,
one after the other or at the same moment, is answered once, on SQLite and PostgreSQL (the
claim is a row in the shared database, so it holds across replicas too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from bot.store.models import Delivery
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.slack_requests import SIGNING_SECRET, post_event, post_message

CHANNEL = "C0INCIDENT"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, db_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(
        database_url=db_url,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
    )
    async with asgi_client(app) as c:
        yield c


def mention(ts: str) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "U0ALICE",
        "text": "<@U0BOT> what changed?",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    }


def answers(slack: SlackEmulator) -> list[str]:
    """The messages answered: the thread each answer went into."""
    return [str(m["thread_ts"]) for m in slack.messages(CHANNEL) if m.get("thread_ts")]


async def dropped(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("opsbot_slack_events_dedup"))
    return float(line.split()[-1])


async def answered_once_then_settled(
    client: httpx.AsyncClient, slack: SlackEmulator, asked: str
) -> None:
    """A later, different mention is answered: by then the dropped retry would have been too."""
    later = await post_message(slack, "<@U0BOT> and now?")
    await post_event(client, mention(later), "EvSENTINEL")
    await slack.await_for(lambda: later in answers(slack), timeout=10)
    assert sorted(answers(slack)) == sorted([asked, later])


async def test_a_retried_mention_is_answered_once(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    asked = await post_message(slack, "<@U0BOT> what changed?")
    await post_event(client, mention(asked), "Ev0MENTION")
    await slack.await_for(lambda: answers(slack) == [asked], timeout=10)
    await post_event(client, mention(asked), "Ev0MENTION", retry=1)
    assert await dropped(client) == 1
    await answered_once_then_settled(client, slack, asked)
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        rows = s.exec(select(Delivery).where(Delivery.source == "slack_event")).all()
    assert sorted(r.dedupe_key for r in rows) == ["Ev0MENTION", "EvSENTINEL"]
    assert "what changed" not in "".join(r.body for r in rows)  # what was said stays out


async def test_a_mention_delivered_twice_at_once_is_answered_once(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    asked = await post_message(slack, "<@U0BOT> what changed?")
    await asyncio.gather(
        post_event(client, mention(asked), "Ev0MENTION"),
        post_event(client, mention(asked), "Ev0MENTION", retry=1),
    )
    assert await dropped(client) == 1
    await answered_once_then_settled(client, slack, asked)
