"""``/ops silence``, ``/ops silences`` and ``/ops unsilence`` at the console grammar (the same
lines Slack runs), through the action path, against the real Alertmanager on loopback."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.load import parse_catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.store.models import Incident
from tests.support.alertmanager import SilencingStack
from tests.support.payloads import am_alert, am_payload
from tests.support.store import CHANNEL, ingest

pytestmark = pytest.mark.integration

ALERT = "CommandSilence"
CATALOG = parse_catalog("""
policy:
  rules:
    - actions: [silence_alerts, expire_silence]
      run: [U0ALICE]
      approval: none
""")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SilencingStack]:
    with SilencingStack(tmp_path_factory.mktemp("alertmanager")) as running:
        yield running


@pytest.fixture
def ops(engine: Engine, stack: SilencingStack) -> Iterator[Ops]:
    with AlertmanagerClient(stack.url, timeout_s=5) as client:
        yield Ops(Executor(engine, CATALOG, Clients(alertmanager=client)))


def console(engine: Engine, ops: Ops, user: str = "U0ALICE") -> CommandContext:
    return CommandContext(engine=engine, user=user, ops=ops)


def incident(engine: Engine) -> tuple[int, str]:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    payload = am_payload(service, [am_alert(service, 1, alertname=ALERT)], alertname=ALERT)
    return ingest(engine, payload).incidents_opened[0], service


def test_silence_list_and_unsilence_from_the_console(
    engine: Engine, ops: Ops, stack: SilencingStack
) -> None:
    incident_id, service = incident(engine)
    ctx = console(engine, ops)
    made = run_command(ctx, f"silence 4h #{incident_id}")
    assert made.ok, made.text
    assert made.public
    assert made.text.startswith(
        f'Done: Silenced alerts matching alertname="{ALERT}", service="{service}" until'
    )
    [am_silence] = stack.silences(service=service)
    assert am_silence["status"]["state"] == "active"

    listed = run_command(ctx, "silences")
    assert listed.ok
    assert listed.text.splitlines()[0] == (
        "Active silences made by opsbot (expire one: /ops unsilence <number>):"
    )
    assert re.fullmatch(
        rf"1\. #{incident_id} alertname={ALERT}, service={service} until .+ UTC, by <@U0ALICE> "
        rf"\(Alertmanager {am_silence['id']}\)",
        listed.text.splitlines()[1],
    )
    assert run_command(ctx, f"silences #{incident_id}").text.startswith(
        f"Active silences for #{incident_id}"
    )
    assert run_command(ctx, "silences #999").text == "No active silence for #999 made by opsbot."

    expired = run_command(ctx, "unsilence 1")
    assert expired.ok, expired.text
    assert expired.text.startswith(f'Done: Expired silence 1 (alertname="{ALERT}"')
    assert stack.silences(service=service)[0]["status"]["state"] == "expired"
    assert run_command(ctx, "silences").text == "No active silence made by opsbot."


def test_every_window_of_the_grammar_and_the_incident_of_the_channel(
    engine: Engine, ops: Ops, stack: SilencingStack
) -> None:
    incident_id, service = incident(engine)
    ctx = console(engine, ops)
    now = datetime.now(UTC)
    dry = run_command(ctx, f"silence monday #{incident_id} --dry-run")
    assert dry.ok
    assert not dry.public
    # The next Monday 09:00 UTC: today's, said as a time alone, on a Monday before 09:00.
    today_before_nine = now.weekday() == 0 and now.hour < 9
    assert dry.text.startswith(
        f'Dry run, nothing changed. Would: Silence alerts matching alertname="{ALERT}", '
        f'service="{service}" in Alertmanager until '
        + ("09:00 UTC for incident" if today_before_nine else "Mon ")
    )
    assert stack.silences(service=service) == []

    in_channel = CommandContext(engine=engine, user="U0ALICE", channel=CHANNEL, ops=ops)
    assert run_command(in_channel, "silence 90m").ok  # the channel's one open incident
    until = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%MZ")
    assert run_command(ctx, f"silence until {until} #{incident_id}").ok
    assert run_command(ctx, f"silence 2d #{incident_id}").ok
    made = stack.silences(service=service)
    assert len(made) == 3

    both = run_command(ctx, f"unsilence #{incident_id}")
    assert both.ok, both.text
    assert both.text.count("Done: Expired silence") == len(made)
    assert {s["status"]["state"] for s in stack.silences(service=service)} == {"expired"}


def test_what_cannot_be_silenced_is_said_plainly(engine: Engine, ops: Ops) -> None:
    incident_id, _ = incident(engine)
    ctx = console(engine, ops)
    with Session(engine) as session:
        paged = Incident(
            group_key="pagerduty:Q1SILENCE",
            source="pagerduty",
            title="From PagerDuty",
            opened_at=datetime.now(UTC),
        )
        session.add(paged)
        session.commit()
        paged_id = paged.id

    cases = {
        f"silence #{incident_id}": "Usage: /ops silence <1h|4h|monday|until <time>>",
        f"silence soon #{incident_id}": "`soon` is not a length or a time",
        f"silence 8d #{incident_id}": "`8d` is out of range: from 5m to 7d",
        "silence 4h": "Say which incident: `#12`.",
        "silence 4h #999": "There is no incident #999.",
        f"silence 4h #{paged_id}": f"#{paged_id} came from pagerduty, not Alertmanager",
        "unsilence 99": "opsbot made no silence 99 (see /ops silences).",
        f"unsilence {uuid.uuid4()}": "Refused: Alertmanager has no silence",
        "unsilence #999": "No active silence for #999 made by opsbot.",
        "unsilence 1 2": "Usage: /ops unsilence",
    }
    for line, expected in cases.items():
        answer = run_command(ctx, line)
        assert not answer.ok, line
        assert expected in answer.text, (line, answer.text)

    refused = run_command(console(engine, ops, "U0MALLORY"), f"silence 4h #{incident_id}")
    assert not refused.ok
    assert refused.text == "Refused: U0MALLORY may not run silence_alerts: allowed are U0ALICE"


def test_the_console_without_an_alertmanager_names_the_setting(engine: Engine) -> None:
    incident_id, _ = incident(engine)
    bare = Ops(Executor(engine, CATALOG, Clients()))
    answer = run_command(console(engine, bare), f"silence 1h #{incident_id}")
    assert not answer.ok
    assert "OPSBOT_ALERTMANAGER_URL" in answer.text
