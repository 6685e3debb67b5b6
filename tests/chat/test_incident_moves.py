"""Declare, severity and lead at the console: each through the action path (policy, audit,
dry run), each on the timeline and the root, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.load import parse_catalog
from bot.catalog.model import Catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.pagerduty import PagerDutyClient
from bot.clients.set import Clients
from bot.incidents.desk import IncidentDesk
from bot.incidents.reminders import remind_due
from bot.runner.execute import Executor
from bot.store.models import (
    AuditEntry,
    EnrichmentStatus,
    Incident,
    OutboxKind,
    OutboxMessage,
    TimelineEvent,
)
from tests.fakes.pagerduty.api import PagerDutyFake

OPEN = parse_catalog("""
services:
  fraud-scorer: {namespace: ml-serving, channel: C0FRAUD}
""")
# A rule that names an action restricts it; the `*` rule does not cover the open ones.
RESTRICTED = parse_catalog("""
services:
  fraud-scorer: {namespace: ml-serving}
severities: [critical, major, minor]
policy:
  rules:
    - actions: [set_severity, declare_incident]
      run: [U0SRE]
      approval: none
    - actions: ["*"]
      run: [U0NOBODY]
      approval: none
""")


def console(engine: Engine, catalog: Catalog, user: str = "U0ALICE") -> CommandContext:
    desk = IncidentDesk(engine, catalog, channel="C0INCIDENT")
    executor = Executor(engine, catalog, Clients(), desk=desk)
    return CommandContext(engine=engine, user=user, catalog=catalog, ops=Ops(executor))


def incidents(engine: Engine) -> list[Incident]:
    with Session(engine) as session:
        return list(session.exec(select(Incident).order_by(col(Incident.id))).all())


def timeline(engine: Engine, incident_id: int) -> list[TimelineEvent]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(TimelineEvent)
                .where(TimelineEvent.incident_id == incident_id)
                .order_by(col(TimelineEvent.id))
            ).all()
        )


def outbox(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .order_by(col(OutboxMessage.id))
        ).all()
        return [row.kind for row in rows]


def audited(engine: Engine, action: str) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == action)).all()
        return [row.event for row in rows]


def test_declare_opens_an_incident_as_an_alert_does(engine: Engine) -> None:
    answer = run_command(
        console(engine, OPEN),
        "declare --service fraud-scorer --severity sev2 fraud precision looks off",
    )
    assert answer.ok, answer.text
    [incident] = incidents(engine)
    assert incident.id is not None
    assert answer.text.startswith(f"Done: Declared incident #{incident.id}")
    assert (incident.title, incident.service, incident.severity, incident.source) == (
        "fraud precision looks off",
        "fraud-scorer",
        "sev2",
        "declared",
    )
    # Its own thread in the service's channel, and enrichment waits for it like an alert's.
    assert incident.slack_channel == "C0FRAUD"
    assert outbox(engine, incident.id) == [OutboxKind.ROOT_POST]
    assert incident.enrichment_state == EnrichmentStatus.PENDING
    [opened] = timeline(engine, incident.id)
    assert (opened.kind, opened.actor) == ("incident_declared", "U0ALICE")
    assert "requested" in audited(engine, "declare_incident")


def test_declare_dry_run_and_bad_input_change_nothing(engine: Engine) -> None:
    ctx = console(engine, OPEN)
    dry = run_command(ctx, "declare --service fraud-scorer --dry-run checkout is slow")
    assert dry.ok
    assert "Declare a sev4 incident for fraud-scorer" in dry.text
    unknown = run_command(ctx, "declare --service nope checkout is slow")
    assert not unknown.ok
    assert "nope is not a service in the catalog" in unknown.text
    bad = run_command(ctx, "declare --severity sev9 checkout is slow")
    assert not bad.ok
    assert "not one of sev1, sev2, sev3, sev4" in bad.text
    assert not run_command(ctx, "declare --service").ok
    assert incidents(engine) == []


def test_severity_and_lead_move_the_incident_and_its_timeline(engine: Engine) -> None:
    ctx = console(engine, OPEN)
    run_command(ctx, "declare --service fraud-scorer --severity sev3 scores drift")
    [incident] = incidents(engine)
    n = incident.id
    assert n is not None
    sev = run_command(ctx, f"severity sev1 #{n}")
    assert sev.ok, sev.text
    again = run_command(ctx, f"severity sev1 #{n}")
    assert "already sev1" in again.text
    lead = run_command(console(engine, OPEN, "U0BOB"), f"lead me #{n}")
    assert lead.ok, lead.text
    named = run_command(ctx, f"lead <@U0CAROL|carol> #{n}")
    assert named.ok, named.text
    [after] = incidents(engine)
    assert (after.severity, after.lead) == ("sev1", "U0CAROL")
    kinds = [(e.kind, e.text) for e in timeline(engine, n)]
    assert ("severity_changed", "Severity sev3 → sev1 by <@U0ALICE>") in kinds
    assert ("lead_changed", "<@U0BOB> leads the incident") in kinds
    assert ("lead_changed", "<@U0CAROL> named incident lead by <@U0ALICE>") in kinds
    # Every change redraws the root.
    assert outbox(engine, n).count(OutboxKind.ROOT_UPDATE) == 3
    assert outbox(engine, n).count(OutboxKind.REPLY) == 3  # each said in the thread too


def test_severity_is_checked_against_the_catalog_and_the_incident(engine: Engine) -> None:
    ctx = console(engine, OPEN)
    assert "Say which incident" in run_command(ctx, "severity sev1").text
    run_command(ctx, "declare scores drift")
    assert "not one of" in run_command(ctx, "severity p1 #1").text
    assert "There is no incident #99." in run_command(ctx, "severity sev1 #99").text
    assert not run_command(ctx, "lead nobody-here #1").ok


def test_a_rule_naming_the_move_decides_who_may(engine: Engine) -> None:
    sre = run_command(console(engine, RESTRICTED, "U0SRE"), "declare --severity major db slow")
    assert sre.ok, sre.text
    [incident] = incidents(engine)
    refused = run_command(console(engine, RESTRICTED, "U0ALICE"), "severity critical #1")
    assert not refused.ok
    assert "U0ALICE may not run set_severity" in refused.text
    assert "U0ALICE may not run declare_incident" in (
        run_command(console(engine, RESTRICTED, "U0ALICE"), "declare db slower").text
    )
    # set_lead is named by no rule but `*`, which does not restrict it: anyone may.
    assert run_command(console(engine, RESTRICTED, "U0ALICE"), "lead me #1").ok
    [after] = incidents(engine)
    assert (after.severity, after.lead) == ("major", "U0ALICE")
    assert incident.severity == "major"
    assert "refused" in audited(engine, "set_severity")


@pytest.mark.parametrize("word", ["declare", "severity", "lead"])
def test_each_move_is_in_the_help(engine: Engine, word: str) -> None:
    assert f"  {word} " in run_command(console(engine, OPEN), "help").text


STAKEHOLDERS = parse_catalog("""
services:
  fraud-scorer: {namespace: ml-serving, stakeholder_channel: C0FRAUDNEWS}
status_updates: {sev1: 15m, sev2: 1h}
""")


def test_a_status_update_goes_to_the_thread_the_timeline_and_the_stakeholders(
    engine: Engine,
) -> None:
    ctx = console(engine, STAKEHOLDERS)
    run_command(ctx, "declare --service fraud-scorer --severity sev1 precision dropped")
    dry = run_command(ctx, "update #1 --dry-run rolled back, watching")
    assert "channel C0FRAUDNEWS (stakeholders of fraud-scorer)" in json.dumps(dry.blocks)
    done = run_command(ctx, "update #1 rolled back to 1.4.1, precision recovering")
    assert done.ok, done.text
    [incident] = incidents(engine)
    assert incident.last_update_at is not None
    [event] = [e for e in timeline(engine, 1) if e.kind == "status_update"]
    assert event.text == "Status update by <@U0ALICE>: rolled back to 1.4.1, precision recovering"
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    notice = [r for r in rows if r.kind == OutboxKind.NOTICE]
    assert [r.channel for r in notice] == ["C0FRAUDNEWS"]
    assert "Update on #1 precision dropped (sev1, firing)" in notice[0].text
    assert "rolled back to 1.4.1" in [r for r in rows if r.kind == OutboxKind.REPLY][-1].text
    assert not run_command(ctx, "update #1").ok  # nothing to say


def test_reminders_come_once_per_quiet_period_and_stop_on_resolve(engine: Engine) -> None:
    ctx = console(engine, STAKEHOLDERS)
    run_command(ctx, "declare --service fraud-scorer --severity sev1 precision dropped")
    run_command(ctx, "declare --service fraud-scorer --severity sev3 minor drift")
    run_command(ctx, "lead me #1")
    [sev1, sev3] = incidents(engine)
    every = STAKEHOLDERS.update_periods()
    start = sev1.opened_at
    assert remind_due(engine, every, start + timedelta(minutes=14)) == []
    assert remind_due(engine, every, start + timedelta(minutes=16)) == [sev1.id]
    # Not again within the period, whoever checks (a second replica over a hand-over).
    assert remind_due(engine, every, start + timedelta(minutes=20)) == []
    reminders = [e.text for e in timeline(engine, 1) if e.kind == "update_reminder"]
    assert reminders == [
        ":alarm_clock: <@U0ALICE>: no status update on #1 for 16 min (sev1 wants one every "
        "15 min). Post one with `/ops update <what is happening, what is next>`."
    ]
    # Another quiet period: one more. An update resets the clock.
    assert remind_due(engine, every, start + timedelta(minutes=32)) == [sev1.id]
    run_command(ctx, "update #1 still digging")
    later = datetime.now(UTC)
    assert remind_due(engine, every, later + timedelta(minutes=10)) == []
    assert remind_due(engine, every, later + timedelta(minutes=16)) == [sev1.id]
    # sev3 wants no updates; a resolved incident gets no more.
    run_command(ctx, "resolve #1")
    assert remind_due(engine, every, later + timedelta(hours=5)) == []
    assert sev3.id not in remind_due(engine, every, later + timedelta(days=1))


def test_severity_moves_the_pagerduty_urgency_when_linked(engine: Engine) -> None:
    with PagerDutyFake() as pd:
        client = PagerDutyClient(
            pd.api_token, base_url=pd.url, from_email=pd.from_email, verify=str(pd.cert_path)
        )
        try:
            desk = IncidentDesk(engine, OPEN, channel="C0INCIDENT")
            executor = Executor(engine, OPEN, Clients(pagerduty=client), desk=desk)
            ctx = CommandContext(engine=engine, user="U0ALICE", catalog=OPEN, ops=Ops(executor))
            run_command(ctx, "declare --service fraud-scorer --severity sev4 scores drift")
            pd_incident = pd.add_incident(title="Fraud scorer drift", urgency="low")
            with Session(engine) as session:
                incident = session.get(Incident, 1)
                assert incident is not None
                incident.pagerduty_incident_id = str(pd_incident["id"])
                session.add(incident)
                session.commit()
            dry = run_command(ctx, "severity sev2 #1 --dry-run")
            assert f"PagerDuty {pd_incident['id']}: urgency high" in json.dumps(dry.blocks)
            done = run_command(ctx, "severity sev2 #1")
            assert done.ok, done.text
            assert f"PagerDuty {pd_incident['id']} urgency high" in done.text
            assert pd.incident(str(pd_incident["id"]))["urgency"] == "high"
            run_command(ctx, "severity sev3 #1")
            assert pd.incident(str(pd_incident["id"]))["urgency"] == "low"
        finally:
            client.close()
