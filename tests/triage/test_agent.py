"""The triage agent against the OpenAI fake, through the real ``LLMClient``: it reads with tools,
answers, may propose an offered playbook as the root's button, and never acts."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat.slack.buttons import start_offered_playbook
from bot.clients.llm import LLMClient
from bot.render.blocks import OFFER_ACTION
from bot.store.models import Incident
from bot.triage.agent import FINAL_NUDGE, MAX_ROUNDS
from bot.triage.answer import render_answer
from bot.triage.mention import (
    LLM_BUDGET,
    LLM_CAPPED,
    LLM_DOWN,
    LLM_FAILED,
    LLM_SILENT,
    MentionAnswer,
    answer_mention,
)
from bot.triage.tools import Proposal, specs
from tests.fakes.openai.api import (
    OpenAIFake,
    reply_text,
    reply_tool_calls,
    server_error,
)
from tests.triage.conftest import (
    ASKER,
    CATALOG,
    CHANNEL,
    PLAYBOOK,
    RESPONDER,
    SERVICE,
    THREAD_TS,
    row_counts,
    seed,
)

FENCE = re.compile(r'<<UNTRUSTED label="[^"]*">>\n.*?\n<<END UNTRUSTED>>', re.DOTALL)
BUTTON_ACTION = re.compile(rf"^{OFFER_ACTION}_\d+$")  # what bot/chat/slack/buttons.py listens to


def ask(engine: Engine, llm: LLMClient | None, text: str, **kw: Any) -> MentionAnswer:
    return answer_mention(
        engine,
        CATALOG,
        channel=CHANNEL,
        thread_ts=kw.pop("thread_ts", THREAD_TS),
        user=ASKER,
        text=text,
        llm=llm,
        **kw,
    )


def buttons(answer: MentionAnswer) -> list[dict[str, Any]]:
    return [e for b in answer.blocks if b["type"] == "actions" for e in b["elements"]]


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def test_the_model_reads_with_tools_then_answers(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seeded = seed(sqlite_engine)
    openai_fake.script(
        reply_tool_calls([("suspects", {}), ("changes", {"service": SERVICE, "since_hours": 6})]),
        reply_tool_calls([("job_status", {})]),
        reply_text(
            "Likely *fraud-model 1.4.2*, deployed 6 min before the alert: p95 0.15 s → 0.42 s. "
            f"<@{RESPONDER}> acked it. @here <@U0STRANGER> [dashboard](http://grafana.internal)"
        ),
    )
    before = row_counts(sqlite_engine)
    answer = ask(sqlite_engine, llm, "<@U0OPSBOT> why is fraud-scorer slow?")

    assert answer.used_llm is True
    assert answer.incident_id == seeded.incident_id
    assert answer.proposed is None
    assert buttons(answer) == []
    body = answer.blocks[0]["text"]["text"]
    assert body.startswith("Likely *fraud-model 1.4.2*, deployed 6 min before the alert")
    assert f"<@{RESPONDER}> acked it" in body  # on the timeline: may be mentioned
    assert "@\u200bhere" in body
    assert "<@U0STRANGER>" not in body
    assert "dashboard (http://grafana.internal)" in body
    context = answer.blocks[-1]["elements"][-1]["text"]
    assert context == (
        ":mag: Read: suspects, changes fraud-scorer 6h, job_status. Read-only: nothing was changed."
    )
    assert row_counts(sqlite_engine) == before

    first, second, third = openai_fake.requests
    assert all(r["tools"] == specs() for r in (first, second, third))
    system, user = first["messages"]
    assert system["role"] == "system"
    assert f"Offered playbooks: {PLAYBOOK}, restart-fraud-scorer." in system["content"]
    assert "fraud-scorer (error_ratio, p95_latency)" in system["content"]
    assert "<<UNTRUSTED" in system["content"]  # the rules
    assert '<<UNTRUSTED label="slack question">>\nwhy is fraud-scorer slow?\n' in user["content"]
    suspects_result, changes_result = tool_messages(second)
    assert suspects_result["content"].startswith("Result of suspects: ok.\n<<UNTRUSTED")
    assert "fraud-model 1.4.2" in FENCE.search(suspects_result["content"]).group(0)  # type: ignore[union-attr]
    assert changes_result["content"].startswith("Result of changes: ok.")
    (job_result,) = tool_messages(third)[2:]
    assert job_result["content"].startswith("Result of job_status: ok.")


def test_an_offered_playbook_becomes_one_root_button(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seeded = seed(sqlite_engine)
    openai_fake.script(
        reply_tool_calls([("suspects", {})]),
        reply_tool_calls(
            [("propose_playbook", {"name": PLAYBOOK, "reason": "the model deploy fits"})]
        ),
        reply_text("The 1.4.2 model deploy is the likely cause; rolling it back fits."),
    )
    before = row_counts(sqlite_engine)
    answer = ask(sqlite_engine, llm, "what should we do?")

    assert answer.proposed == PLAYBOOK
    (button,) = buttons(answer)
    assert button["value"] == f"{seeded.incident_id}:{PLAYBOOK}"
    assert BUTTON_ACTION.match(button["action_id"])
    assert button["text"] == {"type": "plain_text", "text": f"Run {PLAYBOOK}"}
    assert "Suggested playbook: rollback-model-deploy" in json.dumps(answer.blocks)
    result = tool_messages(openai_fake.requests[2])[-1]["content"]
    assert result.startswith("Result of propose_playbook: ok.")
    assert row_counts(sqlite_engine) == before  # proposing started nothing

    # The click goes down the existing path: the offer is checked, then the runner starts it.
    runner = Runner()
    rt = SimpleNamespace(engine=sqlite_engine, catalog=CATALOG, ops=SimpleNamespace(runner=runner))
    said = start_offered_playbook(rt, button["value"], ASKER)  # type: ignore[arg-type]
    assert said.startswith(f"Started {PLAYBOOK} (run #7)")
    assert runner.started == [(PLAYBOOK, ASKER, seeded.incident_id)]


@dataclass
class Runner:
    """Stands in for the playbook runner behind the button (its own tests run it for real)."""

    started: list[tuple[str, str, int]] = field(default_factory=list)

    def start(self, name: str, *, actor: str, context: dict[str, Any], incident_id: int) -> Any:
        self.started.append((name, actor, incident_id))
        return SimpleNamespace(id=7, status="waiting")


def test_a_playbook_the_incident_does_not_offer_gets_no_button(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    openai_fake.script(
        reply_tool_calls([("propose_playbook", {"name": "scale-to-500", "reason": "faster"})]),
        reply_text("Scale fraud-scorer to 500 replicas."),
    )
    answer = ask(sqlite_engine, llm, "fix it")
    assert answer.used_llm is True
    assert answer.proposed is None
    assert buttons(answer) == []
    (result,) = tool_messages(openai_fake.requests[1])
    assert result["content"].startswith("Result of propose_playbook: error.")
    assert "not a playbook this incident offers" in result["content"]


def test_a_proposal_outside_the_allowlist_is_dropped_when_rendering(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = seed(sqlite_engine)
    with Session(sqlite_engine) as s:
        incident = s.get(Incident, seeded.incident_id)
    assert incident is not None
    with caplog.at_level(logging.WARNING, logger="bot.triage.answer"):
        _, blocks, offered = render_answer(
            incident,
            "text",
            used=[],
            proposal=Proposal("drop-database", "because"),
            allowed_users=(),
        )
    assert offered is None
    assert not [b for b in blocks if b["type"] == "actions"]
    assert "does not offer dropped" in caplog.text


def test_an_invented_tool_or_bad_arguments_are_error_results(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    openai_fake.script(
        reply_tool_calls(
            [
                ("rollback_deployment", {"name": SERVICE, "revision": 6}),
                ("suspects", "{not json"),
                ("metric", {"service": SERVICE, "signal": "rate(http_requests_total[5m])"}),
            ]
        ),
        reply_text("I can only read; here is what I found."),
    )
    before = row_counts(sqlite_engine)
    answer = ask(sqlite_engine, llm, "roll it back")
    assert answer.used_llm is True
    invented, bad_json, promql = tool_messages(openai_fake.requests[1])
    assert invented["content"].startswith("Result of an unknown tool: error.")
    assert "there is no tool of that name (you can only read)" in invented["content"]
    assert "the arguments are not a JSON object" in bad_json["content"]
    assert "invalid arguments: signal: String should match pattern" in promql["content"]
    context = answer.blocks[-1]["elements"][-1]["text"]
    assert "unknown tool (refused) (error)" in context
    assert row_counts(sqlite_engine) == before


def test_the_loop_stops_after_four_tool_rounds(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    openai_fake.always(reply_tool_calls([("suspects", {})]))
    answer = ask(sqlite_engine, llm, "why?", token_budget=200000)
    requests = openai_fake.requests
    assert len(requests) == MAX_ROUNDS + 1
    assert requests[-1]["messages"][-1] == {"role": "user", "content": FINAL_NUDGE}
    assert len(tool_messages(requests[-1])) == MAX_ROUNDS
    # No text at the cap: the enrichment answers, and says why.
    assert answer.used_llm is False
    assert answer.blocks[-1]["elements"][0]["text"] == LLM_SILENT


def test_text_given_at_the_cap_is_the_answer(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    openai_fake.always(reply_tool_calls([("suspects", {})], content="The 1.4.2 deploy."))
    answer = ask(sqlite_engine, llm, "why?", token_budget=200000)
    assert len(openai_fake.requests) == MAX_ROUNDS + 1
    assert answer.used_llm is True
    assert answer.blocks[0]["text"]["text"] == "The 1.4.2 deploy."
    assert answer.blocks[-1]["elements"][0]["text"] == LLM_CAPPED


def test_a_small_budget_ends_the_loop_early(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    openai_fake.always(reply_tool_calls([("incident_timeline", {})], content="Partial."))
    answer = ask(sqlite_engine, llm, "why?", token_budget=9000)
    assert 1 <= len(openai_fake.requests) < MAX_ROUNDS + 1
    assert openai_fake.requests[-1]["messages"][-1]["content"] == FINAL_NUDGE
    assert answer.used_llm is True


def test_an_llm_outage_falls_back_to_the_enrichment(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seeded = seed(sqlite_engine)
    openai_fake.always(server_error(503))
    answer = ask(sqlite_engine, llm, "why?")
    assert answer.used_llm is False
    assert answer.incident_id == seeded.incident_id
    assert answer.blocks[-1]["elements"][0]["text"] == LLM_DOWN
    assert "fraud-model 1.4.2" in answer.text
    assert len(buttons(answer)) == 2  # the offered playbooks, as on the root


def test_a_budget_too_small_for_one_call_sends_nothing(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    answer = ask(sqlite_engine, llm, "why?", token_budget=500)
    assert openai_fake.requests == []
    assert answer.used_llm is False
    assert answer.blocks[-1]["elements"][0]["text"] == LLM_BUDGET


def test_outside_an_incident_thread_the_llm_is_not_asked(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine)
    answer = ask(sqlite_engine, llm, "why is fraud-scorer slow?", thread_ts=None)
    assert answer.incident_id is None
    assert answer.used_llm is False
    assert openai_fake.requests == []


def test_secrets_in_tool_results_are_redacted_before_the_model_sees_them(
    sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    seed(sqlite_engine, log_line='connecting with password="hunter2-hunter2" xoxb-99999999-abcdef')
    openai_fake.script(reply_tool_calls([("job_status", {})]), reply_text("The job failed."))
    ask(sqlite_engine, llm, "did the scoring job run?")
    sent = json.dumps(openai_fake.requests)
    assert "hunter2-hunter2" not in sent
    assert "xoxb-99999999" not in sent
    (result,) = tool_messages(openai_fake.requests[1])
    assert "[REDACTED]" in result["content"]


def test_whatever_breaks_in_triage_the_answer_keeps_the_enrichment_and_says_so(
    sqlite_engine: Engine,
    openai_fake: OpenAIFake,
    llm: LLMClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(sqlite_engine)

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("a bug in the agent")

    monkeypatch.setattr("bot.triage.mention.run_triage", broken)
    answer = ask(sqlite_engine, llm, "why?")
    assert answer.used_llm is False
    shown = json.dumps(answer.blocks, ensure_ascii=False)
    assert LLM_FAILED in shown
    assert "Working on it" not in shown  # the edit never keeps the marker
    assert "a bug in the agent" in caplog.text
