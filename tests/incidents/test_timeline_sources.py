"""Everything that happens to an incident lands on its timeline: commands on its service and who
ran them, approvals, action results, notes, pinned messages; and a resolve asks for the summary."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.load import parse_catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.kubernetes import KubeClient
from bot.clients.set import Clients
from bot.incidents.notes import pin_message
from bot.incidents.phases import phases_of
from bot.runner.execute import Executor
from bot.store.models import Incident, OutboxKind, OutboxMessage, TimelineEvent
from bot.store.summary_models import IncidentSummary, SummaryState
from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.kube import roll_fraud_scorer
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = parse_catalog(f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [{DEPLOY}]
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment, scale_deployment, restart_deployment]
      run: ["@sre"]
      approve: ["@sre"]
""")


@pytest.fixture
def ops(engine: Engine, kube: KubeApiFake, kc: KubeClient) -> tuple[Ops, KubeApiFake]:
    roll_fraud_scorer(kube)
    return Ops(Executor(engine, CATALOG, Clients(kube=kc)), None, {}), kube


def events(engine: Engine, incident_id: int) -> list[TimelineEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(TimelineEvent)
                .where(TimelineEvent.incident_id == incident_id)
                .order_by(col(TimelineEvent.id))
            ).all()
        )


def open_incident(engine: Engine) -> int:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    with Session(engine) as s:
        incident = s.exec(select(Incident)).one()
        assert incident.id is not None
        return incident.id


def console(engine: Engine, ops: Ops, user: str) -> CommandContext:
    return CommandContext(engine=engine, user=user, catalog=CATALOG, ops=ops)


def test_a_rollback_on_the_incidents_service_goes_on_its_timeline_with_who_and_the_approval(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    o, _ = ops
    incident_id = open_incident(engine)
    asked = run_command(console(engine, o, "U0ALICE"), "rollback fraud-scorer to 1")
    assert "approve " in asked.text, asked.text
    token = asked.text.rsplit("approve ", 1)[1].strip()
    done = run_command(console(engine, o, "U0BOB"), f"approve {token}")
    assert done.ok, done.text

    mine = [e for e in events(engine, incident_id) if e.kind.startswith(("action", "approval"))]
    assert [(e.kind, e.actor) for e in mine] == [
        ("action_requested", "U0ALICE"),
        ("approval_requested", "U0ALICE"),
        ("action_approved", "U0BOB"),
        ("action_succeeded", "U0BOB"),
    ]
    assert all(e.data["action"] == "rollback_deployment" for e in mine)
    assert mine[-1].data["requested_by"] == "U0ALICE"
    assert mine[-1].data["approver"] == "U0BOB"
    assert "Roll back ml-serving/fraud-scorer" in mine[1].text
    # The rollback is the incident's first mitigation.
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None
        phases = phases_of(s, incident)
    assert phases.mitigated_by == "rollback_deployment"
    assert phases.mitigated_at == mine[-1].at


def test_a_dry_run_is_on_the_timeline_but_does_not_mitigate(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    o, _ = ops
    incident_id = open_incident(engine)
    run_command(console(engine, o, "U0ALICE"), "scale fraud-scorer 4 --dry-run")
    kinds = [e.kind for e in events(engine, incident_id)]
    assert kinds[-2:] == ["action_requested", "action_dry_run"]
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None
        assert phases_of(s, incident).mitigated_at is None


def test_a_command_on_another_service_stays_off_the_timeline(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    o, _ = ops
    ingest(engine, am_payload("search", [am_alert("search", 1)]))
    with Session(engine) as s:
        search = s.exec(select(Incident)).one()
    run_command(console(engine, o, "U0ALICE"), "scale fraud-scorer 4 --dry-run")
    assert search.id is not None
    assert not [e for e in events(engine, search.id) if e.kind.startswith("action")]


def test_note_command_adds_a_note_and_says_so_in_the_thread(engine: Engine) -> None:
    incident_id = open_incident(engine)
    ctx = CommandContext(engine=engine, user="U0ALICE", channel="C0INCIDENT")
    reply = run_command(ctx, f"note #{incident_id} cause: the 2.3.1 feature encoder")
    assert reply.ok, reply.text
    note = events(engine, incident_id)[-1]
    assert (note.kind, note.actor, note.text) == (
        "note",
        "U0ALICE",
        "cause: the 2.3.1 feature encoder",
    )
    assert note.data == {"via": "command"}
    assert f"event #{note.id}" in reply.text
    with Session(engine) as s:
        last = s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc())).first()
    assert last is not None
    assert last.kind == OutboxKind.REPLY
    assert "Note by <@U0ALICE>: cause: the 2.3.1 feature encoder" in last.text
    # Without "#N", the channel's one open incident.
    assert run_command(ctx, "note rolled back by hand").ok
    assert events(engine, incident_id)[-1].text == "rolled back by hand"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("note", "Usage: /ops note"),
        ("note #999 hello", "No incident #999"),
        ("note #1 " + "x" * 2001, "the most is 2000"),
    ],
)
def test_bad_notes_are_refused_with_the_reason(engine: Engine, text: str, says: str) -> None:
    open_incident(engine)
    reply = run_command(CommandContext(engine=engine, user="U0ALICE", channel="C0INCIDENT"), text)
    assert not reply.ok
    assert says in reply.text


def test_note_without_an_incident_asks_which_one(engine: Engine) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    ingest(engine, am_payload("search", [am_alert("search", 1)]))
    reply = run_command(
        CommandContext(engine=engine, user="U0ALICE", channel="C0INCIDENT"), "note hello"
    )
    assert not reply.ok
    assert "Several incidents are open in this channel" in reply.text


def test_a_pinned_message_is_added_once(engine: Engine) -> None:
    incident_id = open_incident(engine)
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None
        incident.slack_ts = "1700000000.000100"
        s.add(incident)
        s.commit()
    args = {
        "channel": "C0INCIDENT",
        "thread_ts": "1700000000.000100",
        "message_ts": "1700000050.000200",
        "text": "p99 back under 200 ms after the rollback",
        "author": "U0BOB",
    }
    first = pin_message(engine, actor="U0ALICE", **args)
    again = pin_message(engine, actor="U0CAROL", **args)
    assert first is not None
    assert first == again
    notes = [e for e in events(engine, incident_id) if e.kind == "note"]
    assert len(notes) == 1
    assert notes[0].data == {
        "via": "reaction",
        "message_ts": "1700000050.000200",
        "author": "U0BOB",
        "reactors": ["U0ALICE", "U0CAROL"],
    }
    other = {**args, "thread_ts": "1700000999.000000"}
    assert pin_message(engine, actor="U0ALICE", **other) is None


def test_resolving_asks_for_the_final_summary(engine: Engine, ops: tuple[Ops, KubeApiFake]) -> None:
    incident_id = open_incident(engine)
    ctx = CommandContext(engine=engine, user="U0ALICE", channel="C0INCIDENT", ops=ops[0])
    assert run_command(ctx, f"resolve {incident_id}").ok
    with Session(engine) as s:
        summary = s.exec(select(IncidentSummary)).one()
    assert summary.incident_id == incident_id
    assert summary.state == SummaryState.QUEUED
    assert summary.final is True
    assert summary.requested_by == "U0ALICE"
