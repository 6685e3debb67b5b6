"""opsbot's PagerDuty adapter for paging, against the HTTPS fake through the ``pagerduty`` library:
who is on call, opening an incident once per ``incident_key``, asking for more responders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clients.pagerduty import Opened, PagerDutyClient, Responder
from bot.errors import ExternalServiceError
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.support.paging import POLICY, SERVICE, Sleeps, paging_fake

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with paging_fake(NOW, data_policy=False) as fake:
        yield fake


# -- on call --------------------------------------------------------------------------------------


def test_oncalls_now_are_each_level_with_its_shift(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    first, second = client.oncalls(POLICY)
    assert (first.level, first.name, first.email) == (1, "Dana Scully", "dana@example.com")
    assert (first.start, first.end) == (NOW - timedelta(hours=6), NOW + timedelta(hours=4))
    assert first.schedule == "ML primary"
    assert first.escalation_policy == "ML on-call"
    assert (second.level, second.name, second.start, second.end) == (
        2,
        "Walter Skinner",
        None,
        None,
    )
    assert second.schedule is None
    [request] = pd.requests()
    assert request["path"] == "/oncalls"
    assert request["query"]["escalation_policy_ids[]"] == POLICY
    assert request["query"]["include[]"] == "users"
    assert request["query"]["earliest"] == "true"


def test_oncalls_over_a_window_include_who_takes_over_next(client: PagerDutyClient) -> None:
    found = client.oncalls(POLICY, since=NOW, until=NOW + timedelta(days=2))
    assert [(o.level, o.name) for o in found] == [
        (1, "Dana Scully"),
        (1, "Fox Mulder"),
        (2, "Walter Skinner"),
    ]
    assert found[1].start == found[0].end


def test_oncalls_of_an_unknown_policy_are_none(client: PagerDutyClient) -> None:
    assert client.oncalls("PNOPE01") == []


# -- users and services ---------------------------------------------------------------------------


def test_the_requester_is_the_from_user_found_by_email_once(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    requester = client.requester_id()
    assert requester == pd.add_user(pd.from_email, "opsbot")["id"]
    assert client.requester_id() == requester
    [request] = pd.requests(path="/users")
    assert request["query"]["query"] == pd.from_email


def test_a_from_email_without_a_user_is_an_error_that_says_so(pd: PagerDutyFake) -> None:
    adapter = PagerDutyClient(
        pd.api_token, base_url=pd.url, from_email="ghost@example.com", verify=str(pd.cert_path)
    )
    with pytest.raises(ExternalServiceError) as info:
        adapter.requester_id()
    adapter.close()
    assert "no PagerDuty user has the email ghost@example.com" in info.value.detail


def test_find_users_by_name_or_email(client: PagerDutyClient) -> None:
    assert [u["name"] for u in client.find_users("scully")] == ["Dana Scully"]
    assert [u["email"] for u in client.find_users("fox@example.com")] == ["fox@example.com"]


def test_get_service_names_its_escalation_policy(client: PagerDutyClient) -> None:
    service = client.get_service(SERVICE)
    assert service["name"] == "fraud-scorer"
    assert service["escalation_policy"]["id"] == POLICY
    with pytest.raises(ExternalServiceError) as info:
        client.get_service("PNOPE01")
    assert info.value.status == 404


# -- incidents ------------------------------------------------------------------------------------


def test_create_incident_posts_pagerdutys_shape_and_assigns_the_oncall(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    opened = client.create_incident(
        SERVICE,
        "Fraud scorer errors",
        urgency="low",
        escalation_policy_id=POLICY,
        details="opsbot incident #7",
        incident_key="opsbot-abc",
    )
    assert opened.created is True
    incident = opened.incident
    assert incident["status"] == "triggered"
    assert incident["service"]["id"] == SERVICE
    assert [a["assignee"]["summary"] for a in incident["assignments"]] == ["Dana Scully"]
    [post] = pd.requests(method="POST")
    assert post["from"] == pd.from_email
    assert post["body"] == {
        "incident": {
            "type": "incident",
            "title": "Fraud scorer errors",
            "service": {"id": SERVICE, "type": "service_reference"},
            "urgency": "low",
            "escalation_policy": {"id": POLICY, "type": "escalation_policy_reference"},
            "body": {"type": "incident_body", "details": "opsbot incident #7"},
            "incident_key": "opsbot-abc",
        }
    }
    assert pd.details(incident["id"]) == "opsbot incident #7"


def test_the_same_incident_key_gives_back_the_open_incident_not_a_second(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    first = client.create_incident(SERVICE, "Fraud scorer errors", incident_key="opsbot-abc")
    again = client.create_incident(SERVICE, "Fraud scorer errors", incident_key="opsbot-abc")
    assert again == Opened(again.incident, created=False)
    assert again.incident["id"] == first.incident["id"]
    assert len(pd.incidents()) == 1
    assert [(r["method"], r["path"], r["status"]) for r in pd.requests()] == [
        ("POST", "/incidents", 201),
        ("POST", "/incidents", 400),
        ("GET", "/incidents", 200),
    ]
    lookup = pd.requests(method="GET")[0]["query"]
    assert lookup["incident_key"] == "opsbot-abc"
    assert lookup["service_ids[]"] == SERVICE
    # Once that incident is resolved, the key opens a new one.
    pd.change_status(first.incident["id"], "resolved")
    third = client.create_incident(SERVICE, "Fraud scorer errors", incident_key="opsbot-abc")
    assert third.created is True
    assert third.incident["id"] != first.incident["id"]


def test_an_unknown_service_is_pagerdutys_400(client: PagerDutyClient, pd: PagerDutyFake) -> None:
    with pytest.raises(ExternalServiceError) as info:
        client.create_incident("PNOPE01", "x", incident_key="k")
    assert (info.value.operation, info.value.status) == ("create_incident", 400)
    assert "Service not found" in info.value.detail
    assert pd.incidents() == []


def test_a_429_on_create_waits_as_retry_after_says_and_opens_one_incident(
    client: PagerDutyClient, pd: PagerDutyFake, sleeps: Sleeps
) -> None:
    pd.rate_limit_next(1, retry_after=2, method="POST", path="/incidents")
    opened = client.create_incident(SERVICE, "Fraud scorer errors", incident_key="k1")
    assert opened.created is True
    assert sleeps.waits == [2.0]
    assert len(pd.incidents()) == 1


def test_set_urgency_puts_it_as_the_from_user(client: PagerDutyClient, pd: PagerDutyFake) -> None:
    incident = pd.add_incident("PABC123", "Fraud scorer errors", number=123)
    assert client.set_urgency(incident["id"], "low")["urgency"] == "low"
    [put] = pd.requests(method="PUT")
    assert put["from"] == pd.from_email
    assert put["body"] == {"incident": {"type": "incident_reference", "urgency": "low"}}


# -- responders -----------------------------------------------------------------------------------


def test_request_responders_asks_users_and_policies(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    incident = pd.add_incident("PABC123", "Fraud scorer errors", number=123)
    fox = pd.add_user("fox@example.com")
    asked = client.request_responders(
        "PABC123",
        client.requester_id(),
        "Please join — opsbot 1234",
        [Responder("user", fox["id"]), Responder("escalation_policy", POLICY)],
    )
    assert asked["message"] == "Please join — opsbot 1234"
    assert asked["requester"]["summary"] == "opsbot"
    targets = [t["responder_request_target"] for t in asked["responder_request_targets"]]
    assert [(t["type"], t["id"]) for t in targets] == [
        ("user", fox["id"]),
        ("escalation_policy", POLICY),
    ]
    assert [r["user"]["summary"] for r in targets[1]["incidents_responders"]] == ["Dana Scully"]
    [post] = pd.requests(method="POST")
    assert post["body"]["responder_request_targets"][1] == {
        "responder_request_target": {"id": POLICY, "type": "escalation_policy_reference"}
    }
    stored = pd.incident(incident["id"])
    assert [r["message"] for r in stored["responder_requests"]] == [asked["message"]]
    assert {r["state"] for r in stored["incidents_responders"]} == {"pending"}


def test_responders_for_an_unknown_incident_are_a_404(client: PagerDutyClient) -> None:
    with pytest.raises(ExternalServiceError) as info:
        client.request_responders("PNOPE00", client.requester_id(), "x", [Responder("user", "P1")])
    assert (info.value.operation, info.value.status) == ("request_responders", 404)
