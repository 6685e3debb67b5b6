"""page_service and request_responders through the one execution path (policy, audit, dry run,
apply once) against the HTTPS PagerDuty fake, through the real adapter and ``pagerduty`` library."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from actions.base import Plan
from actions.pagerduty_page import PageService, incident_key
from actions.pagerduty_responders import RequestResponders
from actions.registry import REGISTRY
from bot.audit.log import read
from bot.catalog.load import parse_catalog
from bot.clients.pagerduty import PagerDutyClient
from bot.clients.set import Clients
from bot.incidents import pagerduty_flow
from bot.incidents.paging import PagingBook
from bot.intake.pagerduty_schema import PDWebhook
from bot.runner.execute import Executor
from bot.store.models import Incident, OutboxKind, OutboxMessage, TimelineEvent
from bot.store.run_models import RunStatus
from bot.store.tx import run_tx
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.support.paging import CATALOG, POLICY, SERVICE, client_of, paging_fake
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
PAGE = PageService()
RESPONDERS = RequestResponders()


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
def executor(sqlite_engine: Engine, client: PagerDutyClient) -> Executor:
    return Executor(
        sqlite_engine, parse_catalog(CATALOG), Clients(pagerduty=client), clock=lambda: NOW
    )


@pytest.fixture
def incident_id(sqlite_engine: Engine) -> int:
    ingest(sqlite_engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    return 1


def incident(engine: Engine, incident_id: int) -> Incident:
    with Session(engine) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found


def timeline_kinds(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(TimelineEvent.kind)
                .where(TimelineEvent.incident_id == incident_id)
                .order_by(col(TimelineEvent.id))
            ).all()
        )


def replies(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(OutboxMessage.text).where(
                    OutboxMessage.incident_id == incident_id,
                    OutboxMessage.kind == OutboxKind.REPLY,
                )
            ).all()
        )


def posts(pd: PagerDutyFake) -> list[str]:
    return [r["path"] for r in pd.requests(method="POST")]


def test_both_are_registered_writes_that_remediate_nothing() -> None:
    for name, cls in [("page_service", PageService), ("request_responders", RequestResponders)]:
        assert isinstance(REGISTRY[name], cls)
        assert REGISTRY[name].writes is True
        assert REGISTRY[name].remediates is False


# -- page_service ---------------------------------------------------------------------------------


def test_the_plan_says_who_is_paged_now_and_pins_the_ids(
    executor: Executor, pd: PagerDutyFake, incident_id: int, sqlite_engine: Engine
) -> None:
    view = executor.request(
        "page_service",
        {"service": "fraud-scorer"},
        actor="U0ALICE",
        incident_id=incident_id,
        dry_run=True,
    )
    assert view.status == RunStatus.DRY_RUN, view.message
    assert view.plan["summary"] == (
        "Page fraud-scorer on PagerDuty (high urgency): Dana Scully is on call"
    )
    lines = view.plan["lines"]
    assert lines[0] == f"PagerDuty service {SERVICE}, escalation policy ML on-call ({POLICY})"
    assert "level 1: Dana Scully until 2026-12-07 18:00 UTC" in lines
    assert "level 2: Walter Skinner" in lines
    assert "linked to opsbot incident #1" in lines
    group_key = incident(sqlite_engine, incident_id).group_key
    pinned = view.plan["pinned"]
    assert pinned["service_id"] == SERVICE
    assert pinned["escalation_policy_id"] == POLICY
    assert pinned["incident_key"] == hashlib.sha256(group_key.encode()).hexdigest()
    assert pinned["oncall"] == "Dana Scully"
    assert posts(pd) == []  # a dry run pages nobody
    assert incident(sqlite_engine, incident_id).pagerduty_incident_id is None


def test_apply_opens_the_incident_and_links_it_here(
    executor: Executor, pd: PagerDutyFake, incident_id: int, sqlite_engine: Engine
) -> None:
    view = executor.request(
        "page_service",
        {"service": "fraud-scorer", "urgency": "low"},
        actor="U0ALICE",
        incident_id=incident_id,
    )
    assert view.status == RunStatus.SUCCEEDED, view.message
    [opened] = pd.incidents()
    title = incident(sqlite_engine, incident_id).title
    assert opened["title"] == title
    assert view.message == (f"Done: Paged fraud-scorer on PagerDuty: #1 ({opened['id']}) '{title}'")
    assert opened["urgency"] == "low"
    assert opened["escalation_policy"]["id"] == POLICY
    assert [a["assignee"]["summary"] for a in opened["assignments"]] == ["Dana Scully"]
    assert "Paged from opsbot by U0ALICE." in (pd.details(opened["id"]) or "")
    here = incident(sqlite_engine, incident_id)
    assert here.pagerduty_incident_id == opened["id"]
    assert here.pagerduty_url == opened["html_url"]
    assert here.oncall == "Dana Scully"
    assert "paged" in timeline_kinds(sqlite_engine, incident_id)
    [line] = [r for r in replies(sqlite_engine, incident_id) if "Paged" in r]
    assert "Paged *fraud-scorer* on PagerDuty" in line
    assert "Dana Scully is on call" in line


def test_a_retried_apply_opens_no_second_incident_and_says_nothing_twice(
    executor: Executor, pd: PagerDutyFake, incident_id: int, sqlite_engine: Engine
) -> None:
    ctx = executor.context("U0ALICE", "run-1", incident_id)
    params = PAGE.parse({"service": "fraud-scorer"})
    plan = PAGE.plan(ctx, params)
    first = PAGE.apply(ctx, params, plan)
    again = PAGE.apply(ctx, params, plan)  # the runner adopting a run that crashed after apply
    assert (first.data["created"], again.data["created"]) == (True, False)
    assert first.data["incident_id"] == again.data["incident_id"]
    assert again.summary.startswith("Already paged fraud-scorer on PagerDuty: #1")
    assert len(pd.incidents()) == 1
    assert posts(pd) == ["/incidents", "/incidents"]  # the second: PagerDuty's dedup 400
    assert timeline_kinds(sqlite_engine, incident_id).count("paged") == 1
    assert len([r for r in replies(sqlite_engine, incident_id) if "Paged" in r]) == 1
    # Asked again for the same incident: it is on PagerDuty already, nothing to do.
    view = executor.request(
        "page_service", {"service": "fraud-scorer"}, actor="U0ALICE", incident_id=incident_id
    )
    assert view.status == RunStatus.SUCCEEDED
    assert "#1 is already on PagerDuty as #1" in view.message
    assert len(pd.incidents()) == 1


def test_a_person_the_policy_refuses_pages_nobody(
    executor: Executor, pd: PagerDutyFake, incident_id: int, sqlite_engine: Engine
) -> None:
    view = executor.request(
        "page_service", {"service": "fraud-scorer"}, actor="U0MALLORY", incident_id=incident_id
    )
    assert view.status == RunStatus.REFUSED
    assert "U0MALLORY may not run page_service" in view.message
    assert pd.requests() == []  # not even a read
    assert incident(sqlite_engine, incident_id).pagerduty_incident_id is None
    with Session(sqlite_engine) as session:
        refused = [e for e in read(session) if e.action == "page_service"]
    assert [e.event for e in refused] == ["requested", "refused"]


def test_without_an_incident_the_key_comes_from_the_run(
    executor: Executor, pd: PagerDutyFake
) -> None:
    view = executor.request(
        "page_service",
        {"service": "fraud-scorer", "title": "Scores look wrong"},
        actor="U0ALICE",
        key="page:console:1",
    )
    assert view.status == RunStatus.SUCCEEDED, view.message
    [opened] = pd.incidents()
    assert opened["title"] == "Scores look wrong"
    expected = "opsbot-" + hashlib.sha256(b"page:console:1").hexdigest()[:32]
    assert opened["incident_key"] == expected


def test_pagerdutys_webhook_for_the_page_finds_this_incident_before_apply_links_it(
    sqlite_engine: Engine, pd: PagerDutyFake, client: PagerDutyClient, incident_id: int
) -> None:
    facts = PagingBook(sqlite_engine).facts(incident_id)
    key = incident_key(facts, "run-1", "fraud-scorer", "x")
    opened = client.create_incident(SERVICE, "x", incident_key=key).incident
    event = {
        "event": {
            "id": "01WEBHOOKTRIGGERED",
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": "2026-01-01T00:00:00Z",
            "agent": None,
            "data": pd.account.get(opened["id"]).webhook_data(pd.url),
        }
    }
    parsed = PDWebhook.model_validate(event).event
    result = run_tx(sqlite_engine, lambda s: pagerduty_flow.ingest(s, parsed, b"{}", "C0INCIDENT"))
    assert (result.incident_id, result.opened) == (incident_id, False)
    assert incident(sqlite_engine, incident_id).pagerduty_incident_id == opened["id"]


@pytest.mark.parametrize(
    ("service", "why"),
    [
        ("nope", "nope is not in the service catalog"),
        ("batch-scorer", "batch-scorer has no `pagerduty:` block"),
        ("feature-store", "names only an escalation policy"),
    ],
)
def test_services_without_a_pagerduty_service_are_refused(
    executor: Executor, pd: PagerDutyFake, service: str, why: str
) -> None:
    view = executor.request("page_service", {"service": service}, actor="U0ALICE")
    assert view.status == RunStatus.REFUSED
    assert why in view.message
    assert posts(pd) == []


def test_pagerdutys_errors_are_said_plainly(
    sqlite_engine: Engine, pd: PagerDutyFake, client: PagerDutyClient
) -> None:
    catalog = parse_catalog(CATALOG.replace(f"service: {SERVICE}", "service: PSVCGONE1"))
    executor = Executor(sqlite_engine, catalog, Clients(pagerduty=client), clock=lambda: NOW)
    gone = executor.request("page_service", {"service": "fraud-scorer"}, actor="U0ALICE")
    assert gone.status == RunStatus.FAILED
    assert gone.message == (
        "Failed: pagerduty create_incident failed (400): Invalid Input Provided: Service not found"
    )
    pd.rate_limit_next(1, retry_after=30, method="POST")
    slow = executor.request(
        "page_service", {"service": "fraud-scorer", "title": "x"}, actor="U0ALICE"
    )
    assert slow.status == RunStatus.FAILED
    assert "create_incident failed (429)" in slow.message
    assert "rate limited; retry after 30 s" in slow.message
    assert pd.incidents() == []


# -- request_responders ---------------------------------------------------------------------------


@pytest.fixture
def linked(pd: PagerDutyFake, incident_id: int, sqlite_engine: Engine) -> str:
    opened = pd.add_incident("PABC123", "Fraud scorer errors", number=123)
    with Session(sqlite_engine) as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        row.pagerduty_incident_id = opened["id"]
        session.add(row)
        session.commit()
    return str(opened["id"])


def test_responders_plan_names_each_person_and_who_a_policy_pages(
    executor: Executor, pd: PagerDutyFake, linked: str, incident_id: int
) -> None:
    view = executor.request(
        "request_responders",
        {"incident_id": linked, "users": ["fox@example.com"], "escalation_policies": [POLICY]},
        actor="U0ALICE",
        incident_id=incident_id,
        dry_run=True,
    )
    assert view.status == RunStatus.DRY_RUN, view.message
    assert view.plan["summary"] == (
        "Ask Fox Mulder, ML on-call to join PagerDuty incident #123 (PABC123) 'Fraud scorer errors'"
    )
    assert view.plan["lines"][:2] == [
        "user Fox Mulder <fox@example.com>",
        f"escalation policy ML on-call ({POLICY}): Dana Scully on call now",
    ]
    assert view.plan["pinned"]["message"].startswith(
        "Please join PagerDuty incident #123: Fraud scorer errors\n— opsbot "
    )
    assert posts(pd) == []


def test_responders_are_asked_once_however_often_apply_runs(
    executor: Executor, pd: PagerDutyFake, linked: str, incident_id: int, sqlite_engine: Engine
) -> None:
    ctx = executor.context("U0ALICE", "run-7", incident_id)
    params = RESPONDERS.parse({"incident_id": linked, "users": ["Mulder"], "message": "Bridge!"})
    plan = RESPONDERS.plan(ctx, params)
    first = RESPONDERS.apply(ctx, params, plan)
    again = RESPONDERS.apply(ctx, params, plan)
    assert first.summary.startswith("Asked Fox Mulder to join PagerDuty incident #123")
    assert again.summary.endswith("already has this request")
    assert posts(pd) == [f"/incidents/{linked}/responder_requests"]
    [asked] = pd.incident(linked)["responder_requests"]
    assert asked["message"].startswith("Bridge!\n— opsbot ")
    assert asked["requester"]["summary"] == "opsbot"
    assert timeline_kinds(sqlite_engine, incident_id).count("responders_requested") == 1
    assert any(
        "asked PagerDuty for more responders: Fox Mulder" in r
        for r in replies(sqlite_engine, incident_id)
    )
    # The same run planned again: nothing to do.
    assert RESPONDERS.plan(ctx, params).noop is True


def test_a_name_that_fits_several_users_is_refused_with_them(
    executor: Executor, pd: PagerDutyFake, linked: str
) -> None:
    pd.add_user("fox.two@example.com", "Fox Two")
    view = executor.request(
        "request_responders", {"incident_id": linked, "users": ["fox"]}, actor="U0ALICE"
    )
    assert view.status == RunStatus.REFUSED
    assert "'fox' matches 2 PagerDuty users" in view.message
    assert "use an email" in view.message
    assert posts(pd) == []


def test_responders_for_an_unknown_or_resolved_incident_are_refused(
    executor: Executor, pd: PagerDutyFake, linked: str
) -> None:
    unknown = executor.request(
        "request_responders",
        {"incident_id": "PNOPE00", "escalation_policies": [POLICY]},
        actor="U0ALICE",
    )
    assert unknown.status == RunStatus.REFUSED
    assert unknown.message == "Refused: PagerDuty has no incident PNOPE00"
    pd.change_status(linked, "resolved")
    resolved = executor.request(
        "request_responders",
        {"incident_id": linked, "escalation_policies": [POLICY]},
        actor="U0ALICE",
    )
    assert resolved.status == RunStatus.REFUSED
    assert "is resolved" in resolved.message
    assert posts(pd) == []


def test_a_refused_person_asks_no_one(executor: Executor, pd: PagerDutyFake, linked: str) -> None:
    view = executor.request(
        "request_responders",
        {"incident_id": linked, "escalation_policies": [POLICY]},
        actor="U0MALLORY",
    )
    assert view.status == RunStatus.REFUSED
    assert pd.requests() == []
    assert pd.incident(linked)["responder_requests"] == []


def test_responder_params_need_someone_to_ask() -> None:
    with pytest.raises(ValueError, match="at least one user or escalation policy"):
        RESPONDERS.parse({"incident_id": "PABC123"})
    with pytest.raises(ValueError, match="escalation_policies"):
        RESPONDERS.parse({"incident_id": "PABC123", "escalation_policies": ["ml-oncall"]})


def test_apply_refuses_a_plan_for_another_incident(
    executor: Executor, pd: PagerDutyFake, linked: str
) -> None:
    ctx = executor.context("U0ALICE", "run-9", None)
    params = RESPONDERS.parse({"incident_id": linked, "escalation_policies": [POLICY]})
    plan = RESPONDERS.plan(ctx, params)
    forged = Plan(plan.summary, plan.lines, {**plan.pinned, "incident_number": 999})
    with pytest.raises(Exception, match="approved plan was for PagerDuty incident"):
        RESPONDERS.apply(ctx, params, forged)
    assert posts(pd) == []
