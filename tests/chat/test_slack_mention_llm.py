"""An @mention with an LLM configured, through Bolt with signed requests: the deterministic answer
is posted at once, marked "working on it", and the LLM's answer replaces it in place; a slow or
failing model never leaves the asker waiting with nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.triage.mention import LLM_CUT_OFF, LLM_DOWN, LLM_NO_TOOLS, LLM_UNREAD, WORKING
from tests.fakes.openai.api import (
    OpenAIFake,
    Reply,
    hang,
    length_cut,
    reply_text,
    reply_tool_calls,
)
from tests.fakes.openai.requests import api_error
from tests.fakes.slack.api import SlackEmulator
from tests.support.mention_thread import answers as thread_answers
from tests.support.mention_thread import incident_root, mention_event, shown
from tests.support.slack_llm_app import slack_llm_app
from tests.support.slack_requests import post_event

CHANNEL = "C0INCIDENT"
KEY = "sk-proj-opsbotMENTION0123456789abcdef"
FIRST_REPLY_S = 2.0  # the asker sees something within this, whatever the model does


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(api_key=KEY) as fake:
        yield fake


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, openai_fake: OpenAIFake
) -> AsyncIterator[httpx.AsyncClient]:
    async with slack_llm_app(
        make_app, slack, api_key=KEY, base_url=openai_fake.base_url, timeout_s=1.0
    ) as c:
        yield c


def answers(slack: SlackEmulator, root: str) -> list[dict[str, Any]]:
    return thread_answers(slack, CHANNEL, root)


async def ask(client: httpx.AsyncClient, slack: SlackEmulator, root: str, n: int) -> float:
    """Post the mention; seconds until the first answer is in the thread."""
    before = len(answers(slack, root))
    started = time.monotonic()
    await post_event(client, mention_event(CHANNEL, root, n), f"EvM{n}")
    await slack.await_for(lambda: len(answers(slack, root)) > before, timeout=10)
    return time.monotonic() - started


async def test_the_deterministic_answer_comes_first_and_the_llm_answer_replaces_it(
    client: httpx.AsyncClient, slack: SlackEmulator, openai_fake: OpenAIFake
) -> None:
    root = await incident_root(client, slack, CHANNEL)
    # The model takes 0.8 s a turn: slower than the first reply may be.
    openai_fake.script(
        hang(0.8, reply_tool_calls([("suspects", {})])),
        hang(0.8, reply_text("Likely the fraud-model deploy 6 min before the alert.")),
    )
    waited = await ask(client, slack, root, 1)
    assert waited < FIRST_REPLY_S
    (first,) = answers(slack, root)
    assert WORKING in shown(first)
    assert openai_fake.statuses == []  # the model had not answered yet

    await slack.await_for(lambda: "Likely the fraud-model" in shown(answers(slack, root)[0]))
    (edited,) = answers(slack, root)
    assert edited["ts"] == first["ts"]  # the same message, edited in place
    assert WORKING not in shown(edited)
    (update,) = slack.calls("chat.update")[-1:]
    assert update["args"]["ts"] == first["ts"]


async def test_a_model_that_times_out_is_not_retried_and_the_answer_says_so(
    client: httpx.AsyncClient, slack: SlackEmulator, openai_fake: OpenAIFake
) -> None:
    root = await incident_root(client, slack, CHANNEL)
    openai_fake.always(hang(5))  # longer than OPSBOT_LLM_TIMEOUT_S (1 s)
    waited = await ask(client, slack, root, 2)
    assert waited < FIRST_REPLY_S
    await slack.await_for(lambda: LLM_DOWN in shown(answers(slack, root)[0]), timeout=10)
    assert len(openai_fake.requests) == 1  # one try: someone is waiting


async def test_an_answer_cut_off_at_the_cap_says_so_and_not_that_the_llm_was_unreachable(
    client: httpx.AsyncClient, slack: SlackEmulator, openai_fake: OpenAIFake
) -> None:
    root = await incident_root(client, slack, CHANNEL)
    openai_fake.script(length_cut("Let me think about fraud-scorer. First, the"))
    await ask(client, slack, root, 6)
    await slack.await_for(lambda: LLM_CUT_OFF in shown(answers(slack, root)[0]), timeout=10)
    text = shown(answers(slack, root)[0])
    assert LLM_DOWN not in text
    assert "Let me think" not in text
    assert len(openai_fake.requests) == 1


async def test_an_answer_that_read_nothing_is_not_used(
    client: httpx.AsyncClient, slack: SlackEmulator, openai_fake: OpenAIFake
) -> None:
    root = await incident_root(client, slack, CHANNEL)
    openai_fake.script(reply_text("It is probably DNS."))  # no tool call: no evidence read
    await ask(client, slack, root, 3)
    await slack.await_for(lambda: LLM_UNREAD in shown(answers(slack, root)[0]), timeout=10)
    assert "probably DNS" not in shown(answers(slack, root)[0])


async def test_a_server_without_tool_calls_is_said_once_and_questions_get_the_enrichment(
    client: httpx.AsyncClient, slack: SlackEmulator, openai_fake: OpenAIFake
) -> None:
    root = await incident_root(client, slack, CHANNEL)
    ready = (await client.get("/readyz")).json()
    assert ready["llm"] == {
        "output_cap": "max_tokens",
        "structured_output": "json_schema",
        "tool_calls": "not tried yet",
    }
    openai_fake.script(
        Reply(
            status=400,
            error=api_error("tools are not supported", "invalid_request_error", "tools"),
        )
    )
    await ask(client, slack, root, 4)
    await slack.await_for(lambda: LLM_NO_TOOLS in shown(answers(slack, root)[0]), timeout=10)
    ready = (await client.get("/readyz")).json()
    assert ready["llm"]["tool_calls"] == "no"
    assert "tools are not supported" in ready["llm"]["tool_calls_detail"]

    # The next question: the enrichment at once, no "working on it", nothing sent to the model.
    await ask(client, slack, root, 5)
    latest = answers(slack, root)[-1]
    assert LLM_NO_TOOLS in shown(latest)
    assert WORKING not in shown(latest)
    assert len(openai_fake.requests) == 1
