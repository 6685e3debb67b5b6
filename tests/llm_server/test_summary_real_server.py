"""The post-incident summary against the real server: the template goes out at once; the
structured request steps down from ``json_schema`` (which llama-cpp-python refuses with a 500)
to ``json_object`` within the same call, with the cap in ``max_tokens``; and what reaches
Slack is either narrative parts that passed the citation check or the template with the
reason recorded."""

from __future__ import annotations

import json
import re
import time

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.store.models import TimelineEvent
from bot.store.summary_models import LLMState, SummarySource
from bot.summary.narrative import MAX_OUTPUT_TOKENS
from tests.fakes.slack.api import SlackEmulator
from tests.llm_server.conftest import CHANNEL
from tests.support.asgi import engine_of
from tests.support.payloads import am_alert, am_payload
from tests.support.recording_proxy import RecordingProxy
from tests.support.store import ingest
from tests.support.summary_thread import stored_summary, summary_messages

SUMMARY_CAP = MAX_OUTPUT_TOKENS  # the summary's structured call
LIVE_MENTION = re.compile(r"<!(channel|here|everyone)>|<!subteam\^")


def event_ids(engine: Engine) -> set[int]:
    with Session(engine) as s:
        return {i for i in s.exec(select(TimelineEvent.id).order_by(col(TimelineEvent.id))) if i}


async def test_a_resolved_incident_gets_a_checked_narrative_or_the_template_with_its_reason(
    client: httpx.AsyncClient, slack: SlackEmulator, proxy: RecordingProxy
) -> None:
    engine = engine_of(client)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await slack.await_for(lambda: len(slack.roots(CHANNEL)) == 1, timeout=10)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1, status="resolved")]))
    resolved_at = time.monotonic()

    # The template first, whatever the model does.
    await slack.await_for(lambda: len(summary_messages(slack, CHANNEL)) == 1, timeout=10)
    assert time.monotonic() - resolved_at < 5.0
    [template] = summary_messages(slack, CHANNEL)

    def settled() -> bool:
        s = stored_summary(engine)
        return s is not None and s.llm_state in (LLMState.DONE, LLMState.FALLBACK)

    await slack.await_for(settled, timeout=600)
    summary = stored_summary(engine)
    assert summary is not None

    # -- what was sent -------------------------------------------------------------------------
    calls = proxy.completions()
    assert len(calls) >= 2, [c.status for c in calls]
    asked_schema, asked_object = calls[0], calls[1]
    # json_schema is refused by this server (a validation error, as a 500), and not retried.
    assert asked_schema.request["response_format"]["type"] == "json_schema"
    assert asked_schema.status == 500
    assert "json_object" in json.dumps(asked_schema.response)
    # The same call steps down: json_object, with the schema in the system prompt.
    assert asked_object.request["response_format"] == {"type": "json_object"}
    system = asked_object.request["messages"][0]
    assert system["role"] == "system"
    assert "what_happened" in system["content"]
    assert "JSON" in system["content"]
    assert asked_object.status == 200
    for call in calls:
        # The cap in the field this server honours, never past the summary's.
        assert "max_completion_tokens" not in call.request
        assert 0 < call.request["max_tokens"] <= SUMMARY_CAP
        if call.status == 200:
            assert call.completion_tokens is not None
            assert call.completion_tokens <= call.request["max_tokens"]
    # A later summary on this process starts where this one ended: no json_schema again.
    assert all(c.request.get("response_format", {}).get("type") != "json_schema" for c in calls[1:])

    # -- what reached Slack ------------------------------------------------------------------
    [final] = summary_messages(slack, CHANNEL)
    assert final["ts"] == template["ts"]  # one message, edited in place if at all
    shown = json.dumps(final["blocks"], ensure_ascii=False) + final["text"]
    assert not LIVE_MENTION.search(shown)
    assert "<@" not in shown  # no one acted on this incident: nobody may be mentioned
    if summary.llm_state == LLMState.DONE:
        assert summary.source == SummarySource.LLM
        known = event_ids(engine)
        accepted = summary.narrative["parts"]
        assert accepted, "DONE with no accepted part"
        for part, sentences in accepted.items():
            for sentence in sentences:
                assert sentence["cites"], (part, sentence)
                assert set(sentence["cites"]) <= known, (part, sentence, known)
        for part, why in summary.narrative["rejected"].items():
            assert why, part
    else:
        # The model's output failed the check or the schema: the template, with why.
        assert summary.source == SummarySource.TEMPLATE
        assert summary.llm_error
        assert final["edits"] == 0
