"""An @mention against the real server: the enrichment answer within 2 s, marked "working on
it"; then, edited in place, the model's answer or an honest note that it could not improve on
it. llama-cpp-python ignores ``tools`` with ``tool_choice: auto``: SmolLM2 answers in text,
often until the output cap stops it. Such answers read no evidence and are not used; after
three of them opsbot takes tool calls as unsupported, says so in /readyz, and answers at once
without asking the model."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bot.triage.mention import (
    LLM_CUT_OFF,
    LLM_DOWN,
    LLM_FAILED,
    LLM_NO_TOOLS,
    LLM_SILENT,
    LLM_UNREAD,
    WORKING,
)
from tests.fakes.slack.api import SlackEmulator
from tests.llm_server.conftest import CHANNEL
from tests.support.mention_thread import answers as thread_answers
from tests.support.mention_thread import incident_root, mention_event, shown
from tests.support.recording_proxy import RecordingProxy
from tests.support.slack_requests import post_event

QUESTION = "why is fraud-scorer failing?"
FIRST_REPLY_S = 2.0
TOOL_TURN_CAP = 800  # max_output_tokens of a triage turn
COULD_NOT_IMPROVE = (LLM_UNREAD, LLM_CUT_OFF, LLM_NO_TOOLS, LLM_DOWN, LLM_FAILED, LLM_SILENT)
UNREAD_IN_A_ROW = 3  # answers without a tool call before tool calls count as unsupported


def answers(slack: SlackEmulator, root: str) -> list[dict[str, Any]]:
    return thread_answers(slack, CHANNEL, root)


async def test_each_mention_is_answered_at_once_then_settled_and_tools_are_learned_unsupported(
    client: httpx.AsyncClient, slack: SlackEmulator, proxy: RecordingProxy
) -> None:
    root = await incident_root(client, slack, CHANNEL)
    assert (await client.get("/readyz")).json()["llm"]["tool_calls"] == "not tried yet"

    for n in range(1, UNREAD_IN_A_ROW + 1):
        count = len(answers(slack, root))
        asked = time.monotonic()
        await post_event(client, mention_event(CHANNEL, root, n, QUESTION), f"EvReal{n}")
        await slack.await_for(lambda c=count: len(answers(slack, root)) > c, timeout=10)
        first_reply_s = time.monotonic() - asked
        assert first_reply_s < FIRST_REPLY_S, (
            f"question {n}: first reply after {first_reply_s:.2f} s"
        )
        first = answers(slack, root)[-1]
        assert WORKING in shown(first)

        def settled() -> bool:
            return WORKING not in shown(answers(slack, root)[-1])

        await slack.await_for(settled, timeout=300)
        final = answers(slack, root)[-1]
        assert final["ts"] == first["ts"]  # the same message, edited in place
        text = shown(final)
        # The model's answer is used only when it read evidence through a tool; this server
        # never calls one, so each answer is the enrichment with the reason it stayed: an
        # answer that read nothing, or one cut off at the cap (the third: no tool calls).
        expected = (LLM_UNREAD, LLM_CUT_OFF) if n < UNREAD_IN_A_ROW else COULD_NOT_IMPROVE
        assert any(note in text for note in expected), text[-600:]
        assert LLM_DOWN not in text  # the server answered: it was reachable
        assert "<!channel>" not in text
        assert "<!here>" not in text

    calls = proxy.completions()
    assert len(calls) == UNREAD_IN_A_ROW  # one turn each: an interactive call is not retried
    for call in calls:
        assert call.request["tools"]
        assert call.request["tool_choice"] == "auto"
        assert "max_completion_tokens" not in call.request
        assert 0 < call.request["max_tokens"] <= TOOL_TURN_CAP
        assert call.status == 200
        assert call.completion_tokens is not None
        assert call.completion_tokens <= call.request["max_tokens"]  # the cap honoured
        assert not call.response["choices"][0]["message"].get("tool_calls")

    ready = (await client.get("/readyz")).json()["llm"]
    assert ready["tool_calls"] == "no"
    assert ready["output_cap"] == "max_tokens"

    # The next question: the enrichment at once, saying why, and nothing sent to the model.
    before = len(answers(slack, root))
    await post_event(client, mention_event(CHANNEL, root, 9, QUESTION), "EvReal9")
    await slack.await_for(lambda: len(answers(slack, root)) > before, timeout=10)
    latest = answers(slack, root)[-1]
    assert LLM_NO_TOOLS in shown(latest)
    assert WORKING not in shown(latest)
    assert len(proxy.completions()) == UNREAD_IN_A_ROW
