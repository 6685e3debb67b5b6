"""`/ops oncall` and `/ops page`, typed at the console or in Slack (the same grammar), against the
HTTPS PagerDuty fake: who is on call and the next hand-over, paging a service for an incident,
asking for more responders once it is on PagerDuty, and the policy deciding who may page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.load import parse_catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.pagerduty import PagerDutyClient
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.store.models import Incident
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.support.paging import CATALOG, OTHER_POLICY, POLICY, client_of, paging_fake
from tests.support.payloads import am_alert, am_payload
from tests.support.store import CHANNEL, ingest

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with paging_fake(NOW) as fake:
        yield fake


@pytest.fixture
def client(pd: PagerDutyFake) -> Iterator[PagerDutyClient]:
    adapter = client_of(pd, sleep=lambda s: None)
    yield adapter
    adapter.close()


@pytest.fixture
def ops(sqlite_engine: Engine, client: PagerDutyClient) -> Ops:
    catalog = parse_catalog(CATALOG)
    return Ops(Executor(sqlite_engine, catalog, Clients(pagerduty=client), clock=lambda: NOW))


def console(engine: Engine, ops: Ops, user: str = "U0ALICE") -> CommandContext:
    return CommandContext(engine=engine, user=user, catalog=ops.executor.catalog, ops=ops)


def slack(engine: Engine, ops: Ops, user: str = "U0ONCALL") -> CommandContext:
    return CommandContext(
        engine=engine, user=user, channel=CHANNEL, catalog=ops.executor.catalog, ops=ops
    )


@pytest.fixture
def incident_id(sqlite_engine: Engine) -> int:
    ingest(sqlite_engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    return 1


def linked_id(engine: Engine, incident_id: int) -> str | None:
    with Session(engine) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found.pagerduty_incident_id


# -- oncall ---------------------------------------------------------------------------------------


def test_oncall_for_a_service_names_each_level_and_the_next_hand_over(
    sqlite_engine: Engine, ops: Ops
) -> None:
    answer = run_command(console(sqlite_engine, ops), "oncall fraud-scorer")
    assert answer.ok, answer.text
    assert answer.text.splitlines() == [
        f"fraud-scorer — ML on-call ({POLICY})",
        "  level 1: Dana Scully until 18:00 UTC · ML primary",
        "  level 2: Walter Skinner (always)",
        "  next hand-over: 18:00 UTC to Fox Mulder",
    ]
    assert answer.public is False  # read-only: for whoever asked


def test_oncall_without_a_service_answers_for_every_paged_service(
    sqlite_engine: Engine, ops: Ops
) -> None:
    answer = run_command(console(sqlite_engine, ops), "oncall")
    assert answer.ok, answer.text
    assert f"feature-store — Data on-call ({OTHER_POLICY})" in answer.text
    assert "  level 1: Mo Reyes (always)" in answer.text
    assert "fraud-scorer — ML on-call" in answer.text
    assert "batch-scorer" not in answer.text


def test_oncall_in_an_incident_answers_for_its_service(
    sqlite_engine: Engine, ops: Ops, incident_id: int
) -> None:
    for ctx, text in [
        (console(sqlite_engine, ops), "oncall #1"),
        (slack(sqlite_engine, ops), "oncall"),
    ]:
        answer = run_command(ctx, text)
        assert answer.ok, answer.text
        assert answer.text.startswith("fraud-scorer — ML on-call")
        assert "feature-store" not in answer.text


def test_oncall_says_pagerdutys_errors_and_missing_configuration_plainly(
    sqlite_engine: Engine, ops: Ops, pd: PagerDutyFake
) -> None:
    pd.fail_next(status=503, path="/oncalls")
    failed = run_command(console(sqlite_engine, ops), "oncall fraud-scorer")
    assert not failed.ok
    assert failed.text == (
        "fraud-scorer: PagerDuty could not say who is on call: pagerduty oncalls failed (503): "
        "Internal Server Error"
    )
    unknown = run_command(console(sqlite_engine, ops), "oncall nope")
    assert (unknown.ok, unknown.text) == (False, "No service `nope` in the service catalog.")
    unpaged = run_command(console(sqlite_engine, ops), "oncall batch-scorer")
    assert not unpaged.ok
    assert "batch-scorer has no `pagerduty:` block" in unpaged.text
    bare = Ops(Executor(sqlite_engine, ops.executor.catalog, Clients()))
    missing = run_command(console(sqlite_engine, bare), "oncall")
    assert not missing.ok
    assert "PagerDuty is not configured here" in missing.text


# -- page -----------------------------------------------------------------------------------------


def test_page_in_an_incident_opens_and_links_a_pagerduty_incident(
    sqlite_engine: Engine, ops: Ops, pd: PagerDutyFake, incident_id: int
) -> None:
    answer = run_command(slack(sqlite_engine, ops), "page --urgency low Scores look wrong")
    assert answer.ok, answer.text
    assert answer.public is True
    [opened] = pd.incidents()
    assert answer.text.startswith(f"Done: Paged fraud-scorer on PagerDuty: #1 ({opened['id']})")
    assert (opened["title"], opened["urgency"]) == ("Scores look wrong", "low")
    assert linked_id(sqlite_engine, incident_id) == opened["id"]


def test_page_dry_run_shows_who_would_be_paged_and_pages_nobody(
    sqlite_engine: Engine, ops: Ops, pd: PagerDutyFake, incident_id: int
) -> None:
    answer = run_command(console(sqlite_engine, ops), "page #1 fraud-scorer --dry-run")
    assert answer.ok, answer.text
    assert "Page fraud-scorer on PagerDuty (high urgency): Dana Scully is on call" in answer.text
    assert pd.incidents() == []
    assert linked_id(sqlite_engine, incident_id) is None


def test_policy_decides_who_may_page(
    sqlite_engine: Engine, ops: Ops, pd: PagerDutyFake, incident_id: int
) -> None:
    refused = run_command(console(sqlite_engine, ops, user="U0MALLORY"), "page #1")
    assert not refused.ok
    assert "U0MALLORY may not run page_service" in refused.text
    assert pd.requests() == []
    allowed = run_command(console(sqlite_engine, ops, user="U0ALICE"), "page #1")
    assert allowed.ok, allowed.text
    assert len(pd.incidents()) == 1


def test_once_on_pagerduty_page_asks_more_responders(
    sqlite_engine: Engine, ops: Ops, pd: PagerDutyFake, incident_id: int
) -> None:
    assert run_command(console(sqlite_engine, ops), "page #1").ok
    pd_id = linked_id(sqlite_engine, incident_id)
    assert pd_id is not None
    asked = run_command(
        console(sqlite_engine, ops), "page #1 @fox feature-store Join the bridge please"
    )
    assert asked.ok, asked.text
    assert asked.text.startswith("Done: Asked Fox Mulder, Data on-call to join PagerDuty")
    [request] = pd.incident(pd_id)["responder_requests"]
    assert request["message"].startswith("Join the bridge please\n— opsbot ")
    targets = [t["responder_request_target"] for t in request["responder_request_targets"]]
    assert [(t["type"], t["summary"]) for t in targets] == [
        ("user", "Fox Mulder"),
        ("escalation_policy", "Data on-call"),
    ]
    # By email and by policy id; with no one named, the service's own escalation policy.
    assert run_command(console(sqlite_engine, ops), f"page #1 mo@example.com {OTHER_POLICY}").ok
    again = run_command(console(sqlite_engine, ops), "page #1 --dry-run")
    assert again.ok, again.text
    assert again.text.startswith("Dry run, nothing changed. Would: Ask ML on-call to join")
    assert len(pd.incident(pd_id)["responder_requests"]) == 2
    assert len(pd.incidents()) == 1


def test_page_refuses_what_it_cannot_understand(
    sqlite_engine: Engine, ops: Ops, pd: PagerDutyFake
) -> None:
    no_service = run_command(console(sqlite_engine, ops), "page")
    assert not no_service.ok
    assert "Say which service to page." in no_service.text
    bad = run_command(console(sqlite_engine, ops), "page fraud-scorer --urgency urgent")
    assert not bad.ok
    assert "--urgency is high or low." in bad.text
    missing = run_command(console(sqlite_engine, ops), "page #9")
    assert (missing.ok, missing.text) == (False, "No incident #9.")
    assert pd.requests() == []
