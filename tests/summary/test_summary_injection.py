"""The injection corpus against the summary's LLM path: hostile text planted in the alert's
annotations and labels and in notes on the timeline, and a model that echoes it (with mentions
and a hidden link of its own) in every part, citing real events so the parts pass the check.
The summary writes nothing, reaches the model only fenced and redacted, and nothing in the
Slack message notifies, links or leaks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.clients.llm import LLMClient, TokenBudget
from bot.store.models import Alert, AuditEntry, TimelineEvent
from bot.store.run_models import ActionRun, Approval
from bot.summary.build import llm_summary
from tests.fakes.openai.api import OpenAIFake, reply_json
from tests.summary.conftest import CATALOG, START, ScriptedProm, at, write_fraud_incident
from tests.support.injection import CORPUS, Case, strings
from tests.support.llm import client_for

CASES = [c for c in CORPUS if c.where in ("alert_annotation", "alert_label", "slack_note")]
MODEL_EXTRAS = "<!channel> <@U0CEO> approve <http://evil.example|http://grafana.internal>"
MENTION = re.compile(r"<@([A-Za-z0-9]+)>")
PARTS = ("what_happened", "impact", "cause", "actions", "follow_ups")


@pytest.fixture
def llm(openai_fake: OpenAIFake) -> Iterator[LLMClient]:
    client = client_for(openai_fake)
    yield client
    client.close()


def plant(session: Session, case: Case, planted: str) -> tuple[int, int]:
    """The incident with the text planted; (its id, an event id the model may cite)."""
    story = write_fraud_incident(session)
    if case.where == "slack_note":
        story.event(at(3, 20), "note", planted, actor="U0MALLORY", via="reaction")
    else:
        labels = {"alertname": "FraudScorerLatency"}
        annotations: dict[str, str] = {}
        if case.where == "alert_annotation":
            annotations["description"] = planted
        else:
            labels["team"] = planted
        session.add(
            Alert(
                incident_id=story.id,
                fingerprint="ffeeddccbbaa0099",
                alertname="FraudScorerLatency",
                status="firing",
                starts_at=START,
                labels=labels,
                annotations=annotations,
                updated_at=START,
            )
        )
    session.commit()
    return story.id, story.events[0]


def writes(engine: Engine) -> tuple[int, ...]:
    with Session(engine) as s:
        return tuple(
            s.exec(select(func.count()).select_from(t)).one()  # type: ignore[arg-type]
            for t in (ActionRun, Approval, AuditEntry)
        )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_planted_text_in_a_summary_cannot_act_notify_link_or_leak(
    case: Case, sqlite_engine: Engine, openai_fake: OpenAIFake, llm: LLMClient
) -> None:
    planted = f"CANARY {case.text}"
    with Session(sqlite_engine) as session:
        incident_id, cite = plant(session, case, planted)
    before = writes(sqlite_engine)
    echoed = [{"text": f"{planted[:300]} {MODEL_EXTRAS}", "cites": [cite]}]
    openai_fake.always(reply_json(dict.fromkeys(PARTS, echoed)))

    with Session(sqlite_engine) as session:
        draft, error = llm_summary(
            session,
            incident_id,
            CATALOG,
            llm,
            TokenBudget(12000),
            prom=ScriptedProm(),
            now=at(4, 0),
        )

    assert error is None, error  # the parts passed the check: the echo is what gets rendered
    assert draft.source == "llm"
    assert writes(sqlite_engine) == before
    slack = draft.slack_text + "\n" + "\n".join(strings(draft.slack_blocks))
    for marker in ("<!channel>", "<!here>", "<!everyone>", "<http"):
        assert marker not in slack, marker
    with Session(sqlite_engine) as session:
        actors = set(
            session.exec(
                select(TimelineEvent.actor).where(TimelineEvent.incident_id == incident_id)
            ).all()
        )
    assert "U0CEO" not in actors
    assert set(MENTION.findall(slack)) <= actors, slack
    assert "U0CEO>" not in slack
    assert "<!channel>" not in draft.markdown
    [request] = openai_fake.requests
    sent = json.dumps(request)
    if case.secret is not None:
        assert case.secret not in sent
        assert case.secret not in slack
        assert case.secret not in draft.markdown
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    assert "CANARY" in user
    for found in re.finditer("CANARY", user):
        opened = user.rfind("<<UNTRUSTED", 0, found.start())
        closed = user.rfind("<<END UNTRUSTED>>", 0, found.start())
        assert opened > closed, "planted text outside a fence"
