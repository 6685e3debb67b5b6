"""Without an LLM, a mention answers with the enrichment: suspects, metrics, playbook buttons."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.render.blocks import OFFER_ACTION, root_message
from bot.store.models import Enrichment, Incident
from bot.triage.fallback import fallback_answer
from bot.triage.mention import HELP, answer_mention, strip_mention
from tests.triage.conftest import (
    ASKER,
    CATALOG,
    CHANNEL,
    OTHER_PLAYBOOK,
    PLAYBOOK,
    THREAD_TS,
    row_counts,
    seed,
)


def mention(engine: Engine, text: str, thread_ts: str | None = THREAD_TS, **kw: Any) -> Any:
    return answer_mention(
        engine,
        CATALOG,
        channel=kw.pop("channel", CHANNEL),
        thread_ts=thread_ts,
        user=ASKER,
        text=text,
        llm=None,
        **kw,
    )


def actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_without_llm_the_mention_answers_with_suspects_and_metrics(
    sqlite_engine: Engine,
) -> None:
    seeded = seed(sqlite_engine)
    before = row_counts(sqlite_engine)
    answer = mention(sqlite_engine, "<@U0OPSBOT> why is fraud-scorer slow?")
    assert answer.incident_id == seeded.incident_id
    assert answer.used_llm is False
    assert answer.proposed is None
    assert answer.text.startswith(f"#{seeded.incident_id}: top suspect: model fraud-model 1.4.2")
    body = all_text(answer.blocks)
    assert "1. model fraud-model 1.4.2 deployed 6 min before the alert" in body
    assert "_(score 0.82)_" in body
    assert "2. input data warehouse/features.transactions" in body
    assert "*p95_latency* 0.15 s → 0.42 s (+180%) :warning: deviated" in body
    assert "*error_ratio* 0.01 → 0.011 (+10%)" in body
    assert "rollouts: Kubernetes is not configured" in body
    assert "No LLM" in body
    assert row_counts(sqlite_engine) == before


def test_the_offered_playbooks_are_the_roots_buttons(sqlite_engine: Engine) -> None:
    seeded = seed(sqlite_engine)
    with Session(sqlite_engine) as s:
        incident = s.get(Incident, seeded.incident_id)
        assert incident is not None
        _, root_blocks = root_message(incident, 1, 1)
        _, blocks = fallback_answer(s, incident)
    # The root's playbook buttons; its other controls (acknowledge, resolve, …) are its own.
    offers = [e for e in actions(root_blocks) if e["action_id"].startswith(OFFER_ACTION)]
    assert actions(blocks) == offers
    values = [b["value"] for b in actions(blocks)]
    assert values == [f"{seeded.incident_id}:{PLAYBOOK}", f"{seeded.incident_id}:{OTHER_PLAYBOOK}"]
    for button in actions(blocks):
        assert re.fullmatch(rf"{OFFER_ACTION}_\d+", button["action_id"])


def test_a_resolved_incident_offers_no_buttons(sqlite_engine: Engine) -> None:
    seed(sqlite_engine, status="resolved")
    answer = mention(sqlite_engine, "what happened?")
    assert actions(answer.blocks) == []


def test_before_enrichment_it_says_so(sqlite_engine: Engine) -> None:
    seeded = seed(sqlite_engine, enriched=False)
    answer = mention(sqlite_engine, "why?")
    assert answer.text == f"#{seeded.incident_id}: enrichment has not finished yet"
    assert "Enrichment has not finished" in all_text(answer.blocks)


def test_world_text_in_suspects_is_made_inert(sqlite_engine: Engine) -> None:
    seeded = seed(sqlite_engine)
    hostile = "<!channel> run <http://evil.example|http://grafana.internal> token=xoxb-1234567890"
    with Session(sqlite_engine) as s:
        row = s.exec(
            select(Enrichment).where(
                Enrichment.incident_id == seeded.incident_id, Enrichment.source == "suspects"
            )
        ).one()
        row.data = {**row.data, "suspects": [{**row.data["suspects"][0], "reason": hostile}]}
        s.add(row)
        s.commit()
    answer = mention(sqlite_engine, "why?")
    everything = answer.text + all_text(answer.blocks)
    assert "<!channel>" not in everything
    assert "<http" not in everything
    assert "xoxb-1234567890" not in everything
    assert "@\u200bchannel" in everything  # still readable, notifies no one


def test_outside_an_incident_thread_it_explains_itself(sqlite_engine: Engine) -> None:
    seed(sqlite_engine)
    for thread_ts in (None, "1699999999.000001"):
        answer = mention(sqlite_engine, "<@U0OPSBOT> hello", thread_ts=thread_ts)
        assert answer.incident_id is None
        assert answer.used_llm is False
        assert answer.blocks[0]["text"]["text"] == HELP
        assert len(answer.blocks) == 1
    other_channel = mention(sqlite_engine, "hi", channel="C0ELSEWHERE")
    assert other_channel.incident_id is None


def test_outside_an_incident_a_named_service_gets_its_recent_changes(
    sqlite_engine: Engine,
) -> None:
    seed(sqlite_engine)
    answer = mention(sqlite_engine, "<@U0OPSBOT> anything new on Fraud-Scorer?", thread_ts=None)
    assert answer.text == "Changes of fraud-scorer in the last 24 h"
    body = all_text(answer.blocks)
    assert "model fraud-model 1.4.2 deployed by ci" in body
    assert "warehouse/features.transactions: run FAIL in etl/build_features" in body


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("<@U0OPSBOT> why is fraud-scorer slow?", "why is fraud-scorer slow?"),
        ("<@U0OPSBOT|opsbot>: why?", "why?"),
        ("  <@U0OPSBOT>   ", ""),
        ("why <@U0OPSBOT>?", "why <@U0OPSBOT>?"),
        ("", ""),
    ],
)
def test_the_bots_own_mention_is_stripped(text: str, question: str) -> None:
    assert strip_mention(text) == question
