"""The post-incident summary in the incident's thread, with the app running as `opsbot serve`:
the template goes out as soon as the incident resolves, whatever the LLM does; the LLM's version
replaces it in place when it passes the check; an LLM outage, a 429 storm or a hang leaves the
template."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.store.models import TimelineEvent
from bot.store.summary_models import IncidentSummary, LLMState, SummarySource
from tests.fakes.openai.api import (
    OpenAIFake,
    Reply,
    hang,
    rate_limited,
    reply_json,
    server_error,
)
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import engine_of
from tests.support.payloads import am_alert, am_payload
from tests.support.slack_llm_app import slack_llm_app
from tests.support.store import ingest
from tests.support.summary_thread import stored_summary
from tests.support.summary_thread import summary_messages as thread_summaries

CHANNEL = "C0INCIDENT"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
def llm() -> Iterator[OpenAIFake]:
    with OpenAIFake() as fake:
        yield fake


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, llm: OpenAIFake
) -> AsyncIterator[httpx.AsyncClient]:
    async with slack_llm_app(
        make_app, slack, api_key=llm.api_key, base_url=llm.base_url, timeout_s=3.0
    ) as c:
        yield c


def summary_messages(slack: SlackEmulator) -> list[dict[str, Any]]:
    return thread_summaries(slack, CHANNEL)


def stored(engine: Engine) -> IncidentSummary | None:
    return stored_summary(engine)


def narrative(cite: int, what: str) -> dict[str, Any]:
    sentence = [{"text": what, "cites": [cite]}]
    return {
        "what_happened": sentence,
        "impact": sentence,
        "cause": sentence,
        "actions": sentence,
        "follow_ups": sentence,
    }


async def open_then_resolve(client: httpx.AsyncClient, slack: SlackEmulator) -> int:
    """Open incident #1, wait for its thread, resolve it; the id of its first timeline event."""
    engine = engine_of(client)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await slack.await_for(lambda: len(slack.roots(CHANNEL)) == 1, timeout=10)
    with Session(engine) as s:
        first = s.exec(select(TimelineEvent.id).order_by(col(TimelineEvent.id))).first()
    assert first is not None
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1, status="resolved")]))
    return first


async def test_the_template_goes_out_at_once_and_the_llm_version_replaces_it(
    client: httpx.AsyncClient, slack: SlackEmulator, llm: OpenAIFake
) -> None:
    engine = engine_of(client)
    # The model takes 2 s; its narrative cites the incident's first event.
    answer: dict[str, Reply] = {}
    llm.script(lambda body: answer["reply"])
    first_event = 1
    answer["reply"] = hang(2.0, then=reply_json(narrative(first_event, "Latency rose on 2.3.1.")))
    first = await open_then_resolve(client, slack)
    assert first == first_event
    resolved_at = time.monotonic()

    await slack.await_for(lambda: len(summary_messages(slack)) == 1, timeout=10)
    took = time.monotonic() - resolved_at
    [posted] = summary_messages(slack)
    root = slack.roots(CHANNEL)[0]
    assert posted["thread_ts"] == root["ts"]
    # The template, before the model answered.
    assert llm.statuses == []
    assert "Latency rose on 2.3.1" not in json.dumps(posted["blocks"])
    assert "Timeline" in json.dumps(posted["blocks"])
    assert took < 5.0, f"the template took {took:.1f}s"

    def replaced() -> bool:
        [m] = summary_messages(slack)
        return "Latency rose on 2.3.1 (#1)." in json.dumps(m["blocks"])

    await slack.await_for(replaced, timeout=15)
    [edited] = summary_messages(slack)
    assert edited["ts"] == posted["ts"]  # the same message, edited in place
    assert edited["edits"] >= 1
    summary = stored(engine)
    assert summary is not None
    assert summary.source == SummarySource.LLM
    assert summary.llm_state == LLMState.DONE
    assert "Latency rose on 2.3.1 (#1)." in summary.markdown
    assert summary.narrative["rejected"] == {}
    assert summary.message_ts == posted["ts"]


@pytest.mark.parametrize(
    ("name", "responder"),
    [
        # Each attempt takes a second, so the LLM is still busy when the template goes out.
        ("outage", hang(1.0, then=server_error(503))),
        ("429 storm", hang(1.0, then=rate_limited(1))),
        ("hang past the timeout", hang(10.0, then=reply_json({}))),
    ],
)
async def test_when_the_llm_fails_the_template_stays_and_says_why(
    client: httpx.AsyncClient,
    slack: SlackEmulator,
    llm: OpenAIFake,
    name: str,
    responder: Reply,
) -> None:
    engine = engine_of(client)
    llm.always(responder)
    await open_then_resolve(client, slack)
    await slack.await_for(lambda: len(summary_messages(slack)) == 1, timeout=10)
    # The template is out while the LLM is still being tried.
    early = stored(engine)
    assert early is not None
    assert early.llm_state == LLMState.PENDING, name

    def gave_up() -> bool:
        s = stored(engine)
        return s is not None and s.llm_state == LLMState.FALLBACK

    await slack.await_for(gave_up, timeout=30)
    summary = stored(engine)
    assert summary is not None
    assert summary.source == SummarySource.TEMPLATE
    assert summary.llm_error
    [message] = summary_messages(slack)
    assert message["edits"] == 0
    assert len(llm.requests) >= 1


async def test_an_invented_citation_keeps_the_template_for_that_part(
    client: httpx.AsyncClient, slack: SlackEmulator, llm: OpenAIFake
) -> None:
    engine = engine_of(client)
    good = [{"text": "Latency rose on 2.3.1.", "cites": [1]}]
    invented = [{"text": "A bad feature caused it.", "cites": [9999]}]
    uncited = [{"text": "Scale up next time.", "cites": []}]
    llm.always(
        reply_json(
            {
                "what_happened": good,
                "impact": good,
                "cause": invented,
                "actions": good,
                "follow_ups": uncited,
            }
        )
    )
    await open_then_resolve(client, slack)

    def done() -> bool:
        s = stored(engine)
        return s is not None and s.llm_state == LLMState.DONE

    await slack.await_for(done, timeout=15)
    summary = stored(engine)
    assert summary is not None
    assert set(summary.narrative["rejected"]) == {"cause", "follow_ups"}
    assert "A bad feature caused it" not in summary.markdown
    assert "Scale up next time" not in summary.markdown
    assert "Latency rose on 2.3.1 (#1)." in summary.markdown
