"""`/ops ack` and `/ops resolve`: the incident here and its PagerDuty incident, through the action
path (policy, audit), against the HTTPS PagerDuty fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.audit.log import read
from bot.catalog.load import parse_catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.pagerduty import PagerDutyClient
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.store.models import Incident
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

CATALOG = parse_catalog("""
policy:
  groups: {oncall: [U0ALICE]}
  rules:
    - actions: [pagerduty_ack, pagerduty_resolve]
      run: ["@oncall"]
      approval: none
""")


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with PagerDutyFake() as fake:
        yield fake


@pytest.fixture
def ops(engine: Engine, pd: PagerDutyFake) -> Iterator[Ops]:
    client = PagerDutyClient(
        pd.api_token, base_url=pd.url, from_email=pd.from_email, verify=str(pd.cert_path)
    )
    yield Ops(Executor(engine, CATALOG, Clients(pagerduty=client)))
    client.close()


def linked_incident(engine: Engine, pd: PagerDutyFake) -> tuple[int, str]:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    pd_incident = pd.add_incident(title="Fraud scorer errors")
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        incident.pagerduty_incident_id = pd_incident["id"]
        session.add(incident)
        session.commit()
    return 1, str(pd_incident["id"])


def status(engine: Engine, incident_id: int) -> str:
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident.status


def test_ack_and_resolve_sync_to_pagerduty(engine: Engine, ops: Ops, pd: PagerDutyFake) -> None:
    incident_id, pd_id = linked_incident(engine, pd)
    ctx = CommandContext(engine=engine, user="U0ALICE", ops=ops)
    acked = run_command(ctx, f"ack {incident_id}")
    assert acked.ok, acked.text
    assert acked.text.startswith(f"#{incident_id} acknowledged by <@U0ALICE>.")
    assert pd.incident(pd_id)["status"] == "acknowledged"
    assert status(engine, incident_id) == "acknowledged"
    again = run_command(ctx, f"ack {incident_id}")
    assert not again.ok
    assert "already acknowledged" in again.text
    assert len(pd.requests(method="PUT")) == 1

    resolved = run_command(ctx, f"resolve {incident_id}")
    assert resolved.ok, resolved.text
    assert pd.incident(pd_id)["status"] == "resolved"
    assert status(engine, incident_id) == "resolved"
    with Session(engine) as session:
        events = [e.action for e in read(session) if e.event == "succeeded"]
    assert events == ["pagerduty_ack", "pagerduty_resolve"]


def test_a_person_policy_refuses_changes_nothing_anywhere(
    engine: Engine, ops: Ops, pd: PagerDutyFake
) -> None:
    incident_id, pd_id = linked_incident(engine, pd)
    reply = run_command(CommandContext(engine=engine, user="U0MALLORY", ops=ops), "ack 1")
    assert not reply.ok
    assert "U0MALLORY may not run pagerduty_ack" in reply.text
    assert pd.incident(pd_id)["status"] == "triggered"
    assert status(engine, incident_id) == "firing"


def test_an_incident_without_pagerduty_is_acknowledged_here(engine: Engine, ops: Ops) -> None:
    ingest(engine, am_payload("svc", [am_alert("svc", 1)]))
    reply = run_command(CommandContext(engine=engine, user="U0ALICE", ops=ops), "ack 1")
    assert reply.ok, reply.text
    assert status(engine, 1) == "acknowledged"
    missing = run_command(CommandContext(engine=engine, user="U0ALICE", ops=ops), "ack 99")
    assert not missing.ok
    assert "No incident #99." in missing.text
