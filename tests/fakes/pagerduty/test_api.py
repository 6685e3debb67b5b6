"""The PagerDuty fake, proved over HTTPS with raw requests (httpx) and the real ``pagerduty``
client. Each test names the PagerDuty behaviour it proves; each would fail if the fake lacked it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pagerduty
import pytest

from bot.intake.pagerduty_schema import PDWebhook, signature_valid
from tests.fakes.pagerduty.api import ACCEPT, PagerDutyFake

INCIDENT = "PABC123"
SECRET = "whsec-test"


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with PagerDutyFake() as fake:
        fake.add_incident(INCIDENT, "Fraud scorer errors", number=123)
        yield fake
        assert fake.fake_errors() == []


@pytest.fixture
def http(pd: PagerDutyFake) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Token token={pd.api_token}", "Accept": ACCEPT}
    with httpx.Client(
        base_url=pd.url, headers=headers, verify=pd.client_ssl_context(), timeout=5
    ) as client:
        yield client


def put_status(http: httpx.Client, status: str, **headers: str) -> httpx.Response:
    body = {"incident": {"type": "incident_reference", "status": status}}
    return http.put(
        f"/incidents/{INCIDENT}", json=body, headers={"From": "opsbot@example.com", **headers}
    )


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


# -- transport and authentication -----------------------------------------------------------------


def test_serves_https_that_only_its_own_certificate_makes_trusted(pd: PagerDutyFake) -> None:
    assert pd.url.startswith("https://127.0.0.1:")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{pd.url}/incidents/{INCIDENT}", timeout=5)
    trusted = httpx.get(
        f"{pd.url}/incidents/{INCIDENT}",
        headers={"Authorization": f"Token token={pd.api_token}"},
        verify=pd.client_ssl_context(),
        timeout=5,
    )
    assert trusted.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Token token=wrong", "Bearer pd-test-token", "token=pd-test-token", "Token token="],
)
def test_refuses_requests_without_the_token_header_with_401(
    pd: PagerDutyFake, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(
        f"{pd.url}/incidents/{INCIDENT}", headers=headers, verify=pd.client_ssl_context()
    )
    assert response.status_code == 401
    assert error(response)["code"] == 2006
    assert pd.requests()[-1]["authorization_ok"] is False


def test_a_read_only_key_reads_but_cannot_write(pd: PagerDutyFake, http: httpx.Client) -> None:
    read_only = {"Authorization": f"Token token={pd.read_only_token}"}
    assert http.get(f"/incidents/{INCIDENT}", headers=read_only).status_code == 200
    response = put_status(http, "acknowledged", **read_only)
    assert response.status_code == 403
    assert error(response)["message"] == "Access Denied"
    assert pd.incident(INCIDENT)["status"] == "triggered"


def test_writes_need_the_email_of_a_user_in_from(pd: PagerDutyFake, http: httpx.Client) -> None:
    body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    missing = http.put(f"/incidents/{INCIDENT}", json=body)
    assert missing.status_code == 400
    assert '"From" header' in error(missing)["message"]
    stranger = http.put(f"/incidents/{INCIDENT}", json=body, headers={"From": "who@example.com"})
    assert stranger.status_code == 400
    assert error(stranger)["errors"] == ["Requester User Not Found"]
    note = http.post(f"/incidents/{INCIDENT}/notes", json={"note": {"content": "x"}})
    assert note.status_code == 400
    assert pd.incident(INCIDENT)["status"] == "triggered"
    assert pd.notes(INCIDENT) == []
    # reads need no From
    assert http.get(f"/incidents/{INCIDENT}").status_code == 200
    pd.add_user("oncall@example.com", "On Call")
    assert put_status(http, "acknowledged", From="OnCall@example.com").status_code == 200


# -- incidents ------------------------------------------------------------------------------------


def test_get_incident_answers_in_the_rest_api_shape(pd: PagerDutyFake, http: httpx.Client) -> None:
    response = http.get(f"/incidents/{INCIDENT}")
    assert response.status_code == 200
    incident = response.json()["incident"]
    assert incident["id"] == INCIDENT
    assert incident["type"] == "incident"
    assert incident["incident_number"] == 123
    assert incident["status"] == "triggered"
    assert incident["title"] == "Fraud scorer errors"
    assert incident["summary"] == "[#123] Fraud scorer errors"
    assert incident["self"] == f"{pd.url}/incidents/{INCIDENT}"
    assert incident["html_url"].endswith(f".pagerduty.com/incidents/{INCIDENT}")
    assert incident["service"]["type"] == "service_reference"
    assert incident["service"]["summary"] == "fraud-scorer"
    assert [a["assignee"]["type"] for a in incident["assignments"]] == ["user_reference"]
    assert incident["acknowledgements"] == []
    assert incident["last_status_change_at"].endswith("Z")


def test_status_moves_forward_and_a_resolved_incident_cannot_change(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    acked = put_status(http, "acknowledged")
    assert acked.status_code == 200
    incident = acked.json()["incident"]
    assert incident["status"] == "acknowledged"
    assert [a["acknowledger"]["summary"] for a in incident["acknowledgements"]] == ["opsbot"]
    assert incident["last_status_change_by"]["summary"] == "opsbot"

    again = put_status(http, "acknowledged")  # a re-acknowledgement is accepted
    assert again.status_code == 200
    assert len(again.json()["incident"]["acknowledgements"]) == 1

    resolved = put_status(http, "resolved")
    assert resolved.status_code == 200
    incident = resolved.json()["incident"]
    assert incident["status"] == "resolved"
    assert incident["resolved_at"] is not None
    assert incident["assignments"] == []
    assert incident["acknowledgements"] == []

    for status in ("resolved", "acknowledged"):
        refused = put_status(http, status)
        assert refused.status_code == 400
        assert error(refused)["errors"] == ["Incident Already Resolved"]
    assert pd.incident(INCIDENT)["status"] == "resolved"


@pytest.mark.parametrize(
    "body",
    [
        {"incident": {"type": "incident_reference", "status": "triggered"}},
        {"incident": {"status": "acknowledged"}},
        {"incident": {"type": "incident_reference"}},
        {"status": "acknowledged"},
        ["not", "an", "object"],
    ],
)
def test_refuses_malformed_updates_with_400(
    pd: PagerDutyFake, http: httpx.Client, body: Any
) -> None:
    response = http.put(f"/incidents/{INCIDENT}", json=body, headers={"From": pd.from_email})
    assert response.status_code == 400
    assert error(response)["code"] == 2001
    assert pd.incident(INCIDENT)["status"] == "triggered"


def test_unknown_incidents_and_paths_are_404(http: httpx.Client) -> None:
    for method, path in [
        ("GET", "/incidents/PNOPE00"),
        ("PUT", "/incidents/PNOPE00"),
        ("GET", "/incidents/PNOPE00/notes"),
        ("GET", "/services"),
        ("DELETE", f"/incidents/{INCIDENT}"),
    ]:
        response = http.request(
            method,
            path,
            json={"incident": {"type": "incident_reference", "status": "resolved"}}
            if method == "PUT"
            else None,
            headers={"From": "opsbot@example.com"},
        )
        assert response.status_code == 404, (method, path)
        assert error(response) == {"message": "Not Found", "code": 2100}


# -- notes ----------------------------------------------------------------------------------------


def test_notes_are_added_by_the_from_user_and_listed_oldest_first(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    headers = {"From": pd.from_email}
    first = http.post(
        f"/incidents/{INCIDENT}/notes", json={"note": {"content": "one"}}, headers=headers
    )
    assert first.status_code == 201
    note = first.json()["note"]
    assert note["content"] == "one"
    assert note["user"]["summary"] == "opsbot"
    assert note["id"]
    assert note["created_at"].endswith("Z")
    http.post(f"/incidents/{INCIDENT}/notes", json={"note": {"content": "two"}}, headers=headers)
    listed = http.get(f"/incidents/{INCIDENT}/notes")
    assert [n["content"] for n in listed.json()["notes"]] == ["one", "two"]


@pytest.mark.parametrize("content", ["", "   ", "x" * 25_001, None])
def test_refuses_empty_and_overlong_notes(
    pd: PagerDutyFake, http: httpx.Client, content: str | None
) -> None:
    response = http.post(
        f"/incidents/{INCIDENT}/notes",
        json={"note": {"content": content}},
        headers={"From": pd.from_email},
    )
    assert response.status_code == 400
    assert pd.notes(INCIDENT) == []


def test_a_note_of_exactly_25000_characters_is_accepted(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    response = http.post(
        f"/incidents/{INCIDENT}/notes",
        json={"note": {"content": "x" * 25_000}},
        headers={"From": pd.from_email},
    )
    assert response.status_code == 201


# -- faults and the request log -------------------------------------------------------------------


def test_rate_limit_next_answers_429_with_retry_after_then_recovers(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    pd.rate_limit_next(2, retry_after=7, method="PUT")
    assert http.get(f"/incidents/{INCIDENT}").status_code == 200  # another method: not limited
    for _ in range(2):
        limited = put_status(http, "acknowledged")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        assert error(limited)["message"] == "Rate Limit Exceeded"
    assert pd.incident(INCIDENT)["status"] == "triggered"  # a 429 changed nothing
    assert put_status(http, "acknowledged").status_code == 200


def test_fail_next_answers_the_status_asked_for(pd: PagerDutyFake, http: httpx.Client) -> None:
    pd.fail_next(status=503, path="/notes")
    assert http.get(f"/incidents/{INCIDENT}").status_code == 200
    assert http.get(f"/incidents/{INCIDENT}/notes").status_code == 503
    assert http.get(f"/incidents/{INCIDENT}/notes").status_code == 200


def test_the_request_log_has_method_path_status_and_headers(
    pd: PagerDutyFake, http: httpx.Client
) -> None:
    put_status(http, "acknowledged")
    [put] = pd.requests(method="PUT")
    assert put["path"] == f"/incidents/{INCIDENT}"
    assert put["status"] == 200
    assert put["from"] == "opsbot@example.com"
    assert put["accept"] == ACCEPT
    assert put["body"] == {"incident": {"type": "incident_reference", "status": "acknowledged"}}


# -- the real client library ----------------------------------------------------------------------


def test_the_pagerduty_library_reads_and_writes_through_its_entity_wrapping(
    pd: PagerDutyFake,
) -> None:
    client = pagerduty.RestApiV2Client(
        pd.api_token,
        default_from=pd.from_email,
        base_url=pd.url,
        verify=pd.client_ssl_context(),
    )
    with client:
        assert client.rget(f"/incidents/{INCIDENT}")["incident_number"] == 123
        updated = client.rput(
            f"/incidents/{INCIDENT}", json={"type": "incident_reference", "status": "acknowledged"}
        )
        assert updated["status"] == "acknowledged"
        note = client.rpost(f"/incidents/{INCIDENT}/notes", json={"content": "from the library"})
        assert note["content"] == "from the library"
        assert [n["content"] for n in client.rget(f"/incidents/{INCIDENT}/notes")] == [
            "from the library"
        ]
    assert {r["accept"] for r in pd.requests()} == {ACCEPT}


# -- webhooks back --------------------------------------------------------------------------------


class _Receiver:
    """A plain HTTP endpoint that keeps what is POSTed to it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/pagerduty"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.close()


def test_changes_go_out_as_signed_v3_webhooks_that_opsbot_accepts(
    pd: PagerDutyFake, http: httpx.Client, receiver: _Receiver
) -> None:
    pd.webhook_to(receiver.url, SECRET)
    put_status(http, "acknowledged")  # through the API
    http.post(
        f"/incidents/{INCIDENT}/notes",
        json={"note": {"content": "looking"}},
        headers={"From": pd.from_email},
    )
    pd.add_user("human@example.com", "Dana")
    pd.change_status(INCIDENT, "resolved", by="human@example.com")  # in PagerDuty itself
    pd.wait_for(lambda: len(pd.webhooks()) == 3)

    assert [d["status"] for d in pd.webhooks()] == [202, 202, 202]
    events = []
    for headers, body in receiver.received:
        assert signature_valid(SECRET, body, headers["X-PagerDuty-Signature"])
        assert not signature_valid("another secret", body, headers["X-PagerDuty-Signature"])
        events.append(PDWebhook.model_validate_json(body).event)
    by_type = {e.event_type: e for e in events}
    assert set(by_type) == {"incident.acknowledged", "incident.annotated", "incident.resolved"}
    acked = by_type["incident.acknowledged"]
    assert acked.resource_type == "incident"
    assert acked.data.id == INCIDENT
    assert acked.data.number == 123
    assert acked.data.status == "acknowledged"
    assert acked.agent is not None
    assert acked.agent.summary == "opsbot"
    resolved = by_type["incident.resolved"]
    assert resolved.agent is not None
    assert resolved.agent.summary == "Dana"
    annotated = json.loads(receiver.received[1][1])["event"]["data"]
    assert annotated["incident"]["id"] == INCIDENT
    assert annotated["content"] == "looking"
    assert len({e.id for e in events}) == 3


def test_no_webhook_without_a_status_change(
    pd: PagerDutyFake, http: httpx.Client, receiver: _Receiver
) -> None:
    pd.webhook_to(receiver.url, SECRET)
    put_status(http, "acknowledged")
    put_status(http, "acknowledged")
    put_status(http, "resolved")
    put_status(http, "resolved")  # 400: nothing changed
    pd.wait_for(lambda: len(pd.webhooks()) == 2)
    assert [d["event_type"] for d in pd.webhooks()] == [
        "incident.acknowledged",
        "incident.resolved",
    ]
