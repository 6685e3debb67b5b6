"""The PagerDuty fake's paging endpoints, proved over HTTPS with raw requests (httpx) and the real
``pagerduty`` client: on-calls, users, services, creating incidents (with their dedup key) and
responder requests, in PagerDuty's shapes and with its errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pagerduty
import pytest

from tests.fakes.pagerduty.api import ACCEPT, PagerDutyFake
from tests.support.paging import POLICY, SERVICE, paging_fake

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
INCIDENT = "PABC123"


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with paging_fake(NOW, data_policy=False) as fake:
        fake.add_incident(INCIDENT, "Fraud scorer errors", number=123, service="fraud-scorer")
        yield fake


@pytest.fixture
def http(pd: PagerDutyFake) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Token token={pd.api_token}", "Accept": ACCEPT}
    with httpx.Client(
        base_url=pd.url, headers=headers, verify=pd.client_ssl_context(), timeout=5
    ) as client:
        yield client


@pytest.fixture
def library(pd: PagerDutyFake) -> Iterator[pagerduty.RestApiV2Client]:
    client = pagerduty.RestApiV2Client(
        pd.api_token, default_from=pd.from_email, base_url=pd.url, verify=pd.client_ssl_context()
    )
    with client:
        yield client


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def new_incident(**fields: Any) -> dict[str, Any]:
    incident = {
        "type": "incident",
        "title": "Fraud scorer errors",
        "service": {"id": SERVICE, "type": "service_reference"},
        **fields,
    }
    return {"incident": {k: v for k, v in incident.items() if v is not None}}


def user_id(pd: PagerDutyFake, email: str) -> str:
    return pd.account.user(email).id


# -- on-calls -------------------------------------------------------------------------------------


def test_oncalls_answer_in_the_documented_shape_with_pagination(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    response = http.get("/oncalls", params={"escalation_policy_ids[]": POLICY})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"oncalls", "limit", "offset", "more", "total"}
    assert (body["limit"], body["offset"], body["more"], body["total"]) == (25, 0, False, None)
    dana, walter = body["oncalls"]
    assert set(dana) == {
        "escalation_policy",
        "escalation_level",
        "schedule",
        "user",
        "start",
        "end",
    }
    assert dana["user"]["type"] == "user_reference"
    assert dana["user"]["summary"] == "Dana Scully"
    assert dana["escalation_policy"]["type"] == "escalation_policy_reference"
    assert dana["schedule"]["type"] == "schedule_reference"
    assert (dana["start"], dana["end"]) == ("2026-12-07T08:00:00Z", "2026-12-07T18:00:00Z")
    assert (walter["escalation_level"], walter["start"], walter["end"]) == (2, None, None)
    assert walter["schedule"] is None
    first = http.get("/oncalls", params={"limit": 1, "total": "true"}).json()
    assert (len(first["oncalls"]), first["more"], first["total"]) == (1, True, 2)
    second = http.get("/oncalls", params={"limit": 1, "offset": 1}).json()
    assert second["oncalls"][0]["user"]["summary"] == "Walter Skinner"
    assert second["more"] is False


def test_oncalls_include_full_users_and_filter_by_time_user_and_earliest(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    later = http.get(
        "/oncalls",
        params=[
            ("include[]", "users"),
            ("since", "2026-12-07T19:00:00Z"),
            ("until", "2026-12-07T20:00:00+00:00"),
        ],
    ).json()["oncalls"]
    assert [(o["user"]["name"], o["user"]["email"]) for o in later] == [
        ("Fox Mulder", "fox@example.com"),
        ("Walter Skinner", "walter@example.com"),
    ]
    assert later[0]["user"]["type"] == "user"
    window = {"since": "2026-12-07T14:00:00Z", "until": "2026-12-10T00:00:00Z"}
    assert len(http.get("/oncalls", params=window).json()["oncalls"]) == 3
    fox = user_id(pd, "fox@example.com")
    only_fox = http.get("/oncalls", params={**window, "user_ids[]": fox}).json()["oncalls"]
    assert [o["user"]["id"] for o in only_fox] == [fox]
    # A second shift of Dana's within the window: earliest keeps only her first.
    pd.add_oncall(
        POLICY,
        "dana@example.com",
        start=NOW + timedelta(hours=28),
        end=NOW + timedelta(hours=38),
        schedule="ML primary",
    )
    every = http.get("/oncalls", params=window).json()["oncalls"]
    earliest = http.get("/oncalls", params={**window, "earliest": "true"}).json()["oncalls"]
    assert len(every) == 4
    assert [o["user"]["summary"] for o in earliest] == [
        "Dana Scully",
        "Fox Mulder",
        "Walter Skinner",
    ]
    assert (
        http.get("/oncalls", params={"escalation_policy_ids[]": "PNOPE01"}).json()["oncalls"] == []
    )


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-12-08T00:00:00Z", "until": "2026-12-07T00:00:00Z"},
        {"earliest": "yes"},
        {"limit": "many"},
    ],
)
def test_oncalls_refuse_bad_parameters_with_400(http: httpx.Client, params: dict[str, str]) -> None:
    response = http.get("/oncalls", params=params)
    assert response.status_code == 400
    assert error(response)["code"] == 2001


# -- users and services ---------------------------------------------------------------------------


def test_users_are_found_by_name_or_email(http: httpx.Client) -> None:
    body = http.get("/users", params={"query": "SCULLY"}).json()
    assert set(body) == {"users", "limit", "offset", "more", "total"}
    [dana] = body["users"]
    assert (dana["type"], dana["name"], dana["email"]) == (
        "user",
        "Dana Scully",
        "dana@example.com",
    )
    by_email = http.get("/users", params={"query": "fox@example.com"}).json()["users"]
    assert [u["name"] for u in by_email] == ["Fox Mulder"]
    assert http.get("/users", params={"query": "nobody"}).json()["users"] == []


def test_a_service_names_its_escalation_policy(http: httpx.Client) -> None:
    service = http.get(f"/services/{SERVICE}").json()["service"]
    assert (service["type"], service["name"]) == ("service", "fraud-scorer")
    assert service["escalation_policy"]["id"] == POLICY
    assert http.get("/services/PNOPE01").status_code == 404


# -- creating incidents ---------------------------------------------------------------------------


def test_post_incidents_creates_one_assigned_to_the_level_one_oncall(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    response = http.post(
        "/incidents",
        json=new_incident(
            urgency="low",
            incident_key="opsbot-1",
            body={"type": "incident_body", "details": "see the thread"},
        ),
        headers={"From": pd.from_email},
    )
    assert response.status_code == 201
    incident = response.json()["incident"]
    assert incident["type"] == "incident"
    assert incident["status"] == "triggered"
    assert incident["incident_number"] == 124
    assert incident["urgency"] == "low"
    assert incident["incident_key"] == "opsbot-1"
    assert incident["service"] == {
        "id": SERVICE,
        "type": "service_reference",
        "summary": "fraud-scorer",
        "self": f"{pd.url}/services/{SERVICE}",
        "html_url": f"https://opsbot-test.pagerduty.com/service-directory/{SERVICE}",
    }
    assert incident["escalation_policy"]["id"] == POLICY
    assert [a["assignee"]["summary"] for a in incident["assignments"]] == ["Dana Scully"]
    assert incident["responder_requests"] == []
    assert pd.details(incident["id"]) == "see the thread"


def test_post_incidents_through_another_escalation_policy(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    other = pd.add_policy("Data on-call", "PEPDATA1")["id"]
    pd.add_oncall(other, "mo@example.com", "Mo")
    body = new_incident(escalation_policy={"id": other, "type": "escalation_policy_reference"})
    incident = http.post("/incidents", json=body, headers={"From": pd.from_email}).json()[
        "incident"
    ]
    assert incident["escalation_policy"]["id"] == other
    assert [a["assignee"]["summary"] for a in incident["assignments"]] == ["Mo"]


def test_an_open_incident_with_the_same_key_on_the_service_is_refused(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    headers = {"From": pd.from_email}
    assert http.post("/incidents", json=new_incident(incident_key="k"), headers=headers).is_success
    again = http.post("/incidents", json=new_incident(incident_key="k"), headers=headers)
    assert again.status_code == 400
    assert error(again) == {
        "message": "Arguments Caused Error",
        "code": 2002,
        "errors": ["Open incident with matching dedup key already exists on this service"],
    }
    found = http.get("/incidents", params={"incident_key": "k"}).json()
    assert set(found) == {"incidents", "limit", "offset", "more", "total"}
    assert [i["incident_key"] for i in found["incidents"]] == ["k"]
    # Another service may use the same key.
    pd.add_service("feature-store", "PSVCFST1")
    other = new_incident(incident_key="k", service={"id": "PSVCFST1", "type": "service_reference"})
    assert http.post("/incidents", json=other, headers=headers).status_code == 201


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"title": "x"}, "Incident must be an object."),
        (new_incident(type="incident_reference"), "Incident type must be incident."),
        (new_incident(title=""), "Title cannot be empty."),
        (new_incident(service={"id": SERVICE}), "Service must be a reference"),
        (new_incident(service={"id": "PNOPE01", "type": "service_reference"}), "Service not found"),
        (
            new_incident(escalation_policy={"id": POLICY, "type": "escalation_policy"}),
            "Escalation Policy must be a reference",
        ),
        (
            new_incident(
                escalation_policy={"id": "PNOPE01", "type": "escalation_policy_reference"}
            ),
            "Escalation Policy not found",
        ),
        (
            new_incident(
                escalation_policy={"id": POLICY, "type": "escalation_policy_reference"},
                assignments=[{"assignee": {"id": "PU1", "type": "user_reference"}}],
            ),
            "Assignments cannot be given with an escalation policy.",
        ),
        (new_incident(urgency="urgent"), "Urgency must be high or low."),
        (new_incident(body={"details": "x"}), "Body type must be incident_body."),
    ],
)
def test_post_incidents_refuses_what_pagerduty_refuses(
    pd: PagerDutyFake, http: httpx.Client, body: dict[str, Any], detail: str
) -> None:
    response = http.post("/incidents", json=body, headers={"From": pd.from_email})
    assert response.status_code == 400
    assert detail in error(response)["errors"][0]
    assert len(pd.incidents()) == 1  # the seeded one


def test_post_incidents_needs_from_and_a_writing_key(pd: PagerDutyFake, http: httpx.Client) -> None:
    missing = http.post("/incidents", json=new_incident())
    assert missing.status_code == 400
    assert '"From" header' in error(missing)["message"]
    read_only = http.post(
        "/incidents",
        json=new_incident(),
        headers={"From": pd.from_email, "Authorization": f"Token token={pd.read_only_token}"},
    )
    assert read_only.status_code == 403
    assert len(pd.incidents()) == 1


def test_put_changes_the_urgency_of_an_open_incident_only(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    headers = {"From": pd.from_email}
    body = {"incident": {"type": "incident_reference", "urgency": "low"}}
    changed = http.put(f"/incidents/{INCIDENT}", json=body, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["incident"]["urgency"] == "low"
    assert changed.json()["incident"]["status"] == "triggered"
    wrong = {"incident": {"type": "incident_reference", "urgency": "urgent"}}
    assert http.put(f"/incidents/{INCIDENT}", json=wrong, headers=headers).status_code == 400
    pd.change_status(INCIDENT, "resolved")
    late = http.put(f"/incidents/{INCIDENT}", json=body, headers=headers)
    assert late.status_code == 400
    assert error(late)["errors"] == ["Incident Already Resolved"]


# -- responder requests ---------------------------------------------------------------------------


def responders(pd: PagerDutyFake, *targets: tuple[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "requester_id": user_id(pd, pd.from_email),
        "message": "Please join the bridge",
        "responder_request_targets": [
            {"responder_request_target": {"id": i, "type": t}} for t, i in targets
        ],
        **fields,
    }


def test_a_responder_request_answers_200_in_pagerdutys_shape(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    fox = user_id(pd, "fox@example.com")
    body = responders(pd, ("user_reference", fox), ("escalation_policy_reference", POLICY))
    response = http.post(
        f"/incidents/{INCIDENT}/responder_requests", json=body, headers={"From": pd.from_email}
    )
    assert response.status_code == 200
    request = response.json()["responder_request"]
    assert request["incident"]["id"] == INCIDENT
    assert request["incident"]["type"] == "incident_reference"
    assert request["requester"]["summary"] == "opsbot"
    assert request["message"] == "Please join the bridge"
    user_target, policy_target = (
        t["responder_request_target"] for t in request["responder_request_targets"]
    )
    assert (user_target["type"], user_target["id"]) == ("user", fox)
    assert (policy_target["type"], policy_target["id"]) == ("escalation_policy", POLICY)
    [asked] = policy_target["incidents_responders"]
    assert asked["state"] == "pending"
    assert asked["user"]["summary"] == "Dana Scully"
    assert asked["escalation_policy_requests"] == ["ML on-call"]
    incident = pd.incident(INCIDENT)
    assert [r["message"] for r in incident["responder_requests"]] == ["Please join the bridge"]
    assert [r["user"]["summary"] for r in incident["incidents_responders"]] == [
        "Fox Mulder",
        "Dana Scully",
    ]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"requester_id": None}, "Requester id is required."),
        ({"requester_id": "PNOPE01"}, "Requester not found"),
        ({"message": " "}, "Message cannot be empty."),
        ({"responder_request_targets": []}, "non-empty array"),
        ({"responder_request_targets": [{"id": POLICY}]}, "responder_request_target object"),
        (
            {
                "responder_request_targets": [
                    {"responder_request_target": {"id": "P1", "type": "team_reference"}}
                ]
            },
            "Target type must be",
        ),
        (
            {
                "responder_request_targets": [
                    {"responder_request_target": {"id": "PNOPE01", "type": "user_reference"}}
                ]
            },
            "User PNOPE01 not found",
        ),
    ],
)
def test_a_responder_request_is_checked_as_pagerduty_checks_it(
    pd: PagerDutyFake, http: httpx.Client, change: dict[str, Any], detail: str
) -> None:
    body = {**responders(pd, ("escalation_policy_reference", POLICY)), **change}
    response = http.post(
        f"/incidents/{INCIDENT}/responder_requests",
        json={k: v for k, v in body.items() if v is not None},
        headers={"From": pd.from_email},
    )
    assert response.status_code == 400
    assert detail in error(response)["errors"][0]
    assert pd.incident(INCIDENT)["responder_requests"] == []


def test_responders_for_an_unknown_or_resolved_incident_are_refused(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    body = responders(pd, ("escalation_policy_reference", POLICY))
    unknown = http.post("/incidents/PNOPE00/responder_requests", json=body)  # 404 before From
    assert unknown.status_code == 404
    assert error(unknown) == {"message": "Not Found", "code": 2100}
    no_from = http.post(f"/incidents/{INCIDENT}/responder_requests", json=body)
    assert no_from.status_code == 400
    pd.change_status(INCIDENT, "resolved")
    resolved = http.post(
        f"/incidents/{INCIDENT}/responder_requests", json=body, headers={"From": pd.from_email}
    )
    assert resolved.status_code == 400


# -- the real client library ----------------------------------------------------------------------


def test_the_library_pages_through_oncalls_and_finds_users(
    pd: PagerDutyFake, library: pagerduty.RestApiV2Client
) -> None:
    params = {"escalation_policy_ids": [POLICY], "include": ["users"], "earliest": "true"}
    found = list(library.iter_all("oncalls", params=params, page_size=1))
    assert [o["user"]["name"] for o in found] == ["Dana Scully", "Walter Skinner"]
    assert [r["query"]["offset"] for r in pd.requests(path="/oncalls")] == ["0", "1"]
    user = library.find("users", "fox@example.com", attribute="email")
    assert user is not None
    assert user["name"] == "Fox Mulder"


def test_the_library_wraps_a_new_incident_and_reads_a_responder_request(
    pd: PagerDutyFake, library: pagerduty.RestApiV2Client
) -> None:
    created = library.rpost(
        "/incidents",
        json={
            "type": "incident",
            "title": "From the library",
            "service": {"id": SERVICE, "type": "service_reference"},
        },
    )
    assert isinstance(created, dict)
    assert created["title"] == "From the library"
    asked = library.rpost(
        f"/incidents/{created['id']}/responder_requests",
        json=responders(pd, ("escalation_policy_reference", POLICY)),
    )
    assert isinstance(asked, dict)
    assert asked["message"] == "Please join the bridge"
    assert {r["accept"] for r in pd.requests()} == {ACCEPT}
