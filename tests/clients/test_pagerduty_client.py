"""opsbot's PagerDuty adapter against the HTTPS fake, through the official ``pagerduty`` client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.clients.pagerduty import PagerDutyClient
from bot.errors import ExternalServiceError
from tests.fakes.pagerduty.api import ACCEPT, PagerDutyFake
from tests.support.paging import Sleeps
from tests.support.server import free_port

INCIDENT = "PABC123"


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with PagerDutyFake() as fake:
        fake.add_incident(INCIDENT, "Fraud scorer errors", number=123)
        yield fake
        assert fake.fake_errors() == []


def test_get_incident_over_https_with_the_ca_file(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    incident = client.get_incident(INCIDENT)
    assert incident["id"] == INCIDENT
    assert incident["incident_number"] == 123
    assert incident["status"] == "triggered"
    assert incident["title"] == "Fraud scorer errors"
    [request] = pd.requests()
    assert request["accept"] == ACCEPT
    assert request["authorization_ok"] is True


def test_an_ssl_context_works_as_verify_too(pd: PagerDutyFake) -> None:
    adapter = PagerDutyClient(
        pd.api_token, base_url=pd.url, from_email=pd.from_email, verify=pd.client_ssl_context()
    )
    try:
        assert adapter.get_incident(INCIDENT)["id"] == INCIDENT
    finally:
        adapter.close()


def test_acknowledge_puts_the_status_as_the_from_user(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    incident = client.acknowledge(INCIDENT)
    assert incident["status"] == "acknowledged"
    assert pd.incident(INCIDENT)["status"] == "acknowledged"
    [put] = pd.requests(method="PUT")
    assert put["from"] == "opsbot@example.com"
    assert put["body"] == {"incident": {"type": "incident_reference", "status": "acknowledged"}}


def test_resolve_and_resolve_again_both_return_the_resolved_incident(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    assert client.resolve(INCIDENT)["status"] == "resolved"
    again = client.resolve(INCIDENT)  # PagerDuty answers 400 "Incident Already Resolved"
    assert again["status"] == "resolved"
    assert [(r["method"], r["status"]) for r in pd.requests()] == [
        ("PUT", 200),
        ("PUT", 400),
        ("GET", 200),
    ]


def test_acknowledging_a_resolved_incident_is_pagerdutys_400(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    pd.change_status(INCIDENT, "resolved")
    with pytest.raises(ExternalServiceError) as info:
        client.acknowledge(INCIDENT)
    assert info.value.system == "pagerduty"
    assert info.value.operation == "acknowledge"
    assert info.value.status == 400
    assert info.value.detail == "Invalid Input Provided: Incident Already Resolved"


def test_notes_are_added_and_listed(client: PagerDutyClient, pd: PagerDutyFake) -> None:
    note = client.add_note(INCIDENT, "rolled back fraud-scorer to 1.4.1")
    assert note["content"] == "rolled back fraud-scorer to 1.4.1"
    assert note["user"]["summary"] == "opsbot"
    assert [n["content"] for n in client.list_notes(INCIDENT)] == [note["content"]]
    assert pd.notes(INCIDENT)[0]["id"] == note["id"]


def test_unknown_incident_is_a_404_error(client: PagerDutyClient) -> None:
    with pytest.raises(ExternalServiceError) as info:
        client.get_incident("PNOPE00")
    assert (info.value.operation, info.value.status, info.value.detail) == (
        "get_incident",
        404,
        "Not Found",
    )


def test_a_wrong_token_is_a_401_error_with_pagerdutys_message(pd: PagerDutyFake) -> None:
    adapter = PagerDutyClient(
        "not-the-token", base_url=pd.url, from_email=pd.from_email, verify=str(pd.cert_path)
    )
    with pytest.raises(ExternalServiceError) as info:
        adapter.get_incident(INCIDENT)
    adapter.close()
    assert info.value.status == 401
    assert info.value.detail == "Invalid Credentials"
    assert len(pd.requests()) == 1  # not retried


def test_a_from_email_pagerduty_does_not_know_is_refused_on_writes(pd: PagerDutyFake) -> None:
    adapter = PagerDutyClient(
        pd.api_token, base_url=pd.url, from_email="nobody@example.com", verify=str(pd.cert_path)
    )
    assert adapter.get_incident(INCIDENT)["status"] == "triggered"
    with pytest.raises(ExternalServiceError) as info:
        adapter.acknowledge(INCIDENT)
    adapter.close()
    assert info.value.status == 400
    assert "Requester User Not Found" in info.value.detail


def test_a_server_error_is_reported_not_retried(client: PagerDutyClient, pd: PagerDutyFake) -> None:
    pd.fail_next(status=502)
    with pytest.raises(ExternalServiceError) as info:
        client.add_note(INCIDENT, "x")
    assert info.value.status == 502
    assert pd.notes(INCIDENT) == []
    assert len(pd.requests()) == 1


def test_429_waits_as_retry_after_says_then_succeeds(
    client: PagerDutyClient, pd: PagerDutyFake, sleeps: Sleeps
) -> None:
    pd.rate_limit_next(2, retry_after=3, method="PUT")
    assert client.acknowledge(INCIDENT)["status"] == "acknowledged"
    assert sleeps.waits == [3.0, 3.0]
    assert [r["status"] for r in pd.requests(method="PUT")] == [429, 429, 200]


def test_429_is_raised_after_two_retries(
    client: PagerDutyClient, pd: PagerDutyFake, sleeps: Sleeps
) -> None:
    pd.rate_limit_next(3, retry_after=1)
    with pytest.raises(ExternalServiceError) as info:
        client.get_incident(INCIDENT)
    assert info.value.status == 429
    assert "retry after 1 s" in info.value.detail
    assert sleeps.waits == [1.0, 1.0]
    assert len(pd.requests()) == 3


def test_429_asking_for_a_longer_wait_than_allowed_is_raised_at_once(
    client: PagerDutyClient, pd: PagerDutyFake, sleeps: Sleeps
) -> None:
    pd.rate_limit_next(1, retry_after=30)
    with pytest.raises(ExternalServiceError) as info:
        client.get_incident(INCIDENT)
    assert info.value.status == 429
    assert "retry after 30 s" in info.value.detail
    assert sleeps.waits == []
    pd.rate_limit_next(2, retry_after=6)  # 6 + 6 > 10 s: one wait, then raised
    with pytest.raises(ExternalServiceError):
        client.get_incident(INCIDENT)
    assert sleeps.waits == [6.0]


def test_429_really_sleeps_by_default(pd: PagerDutyFake) -> None:
    adapter = PagerDutyClient(
        pd.api_token, base_url=pd.url, from_email=pd.from_email, verify=str(pd.cert_path)
    )
    pd.rate_limit_next(1, retry_after=0.5)
    began = time.monotonic()
    assert adapter.get_incident(INCIDENT)["id"] == INCIDENT
    took = time.monotonic() - began
    adapter.close()
    assert 0.5 <= took < 3


def test_no_answer_is_an_error_without_status_and_without_retries() -> None:
    adapter = PagerDutyClient(
        "token", base_url=f"https://127.0.0.1:{free_port()}", from_email="a@example.com"
    )
    began = time.monotonic()
    with pytest.raises(ExternalServiceError) as info:
        adapter.get_incident(INCIDENT)
    adapter.close()
    assert info.value.status is None
    assert info.value.detail.startswith("no answer from https://127.0.0.1:")
    assert time.monotonic() - began < 2  # the library alone would sleep 3 + 6 + 12 s


def test_a_certificate_that_is_not_trusted_is_refused(pd: PagerDutyFake) -> None:
    adapter = PagerDutyClient(pd.api_token, base_url=pd.url, from_email=pd.from_email)
    with pytest.raises(ExternalServiceError) as info:
        adapter.get_incident(INCIDENT)
    adapter.close()
    assert info.value.status is None
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.detail
    assert pd.requests() == []


def test_refuses_http_urls_and_bad_ids_before_any_request(client: PagerDutyClient) -> None:
    with pytest.raises(ValueError, match="https://"):
        PagerDutyClient("token", base_url="http://127.0.0.1:1", from_email="a@example.com")
    with pytest.raises(ValueError, match="email"):
        PagerDutyClient("token", from_email="opsbot")
    for bad in ("../users", "PABC123/notes", "", "pabc123"):
        with pytest.raises(ValueError, match="incident id"):
            client.get_incident(bad)
