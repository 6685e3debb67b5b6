"""POST /webhooks/pagerduty: v3 signatures, dedupe on event id, incident lifecycle and linking."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.support.asgi import AM_TOKEN, engine_of
from tests.support.pagerduty_requests import URL, pd_event, post, sign
from tests.support.store import incidents, outbox, timeline_kinds


@pytest.mark.parametrize(
    "signature",
    ["", "v1=deadbeef", sign(b"other body"), sign(b"{}", "wrong-secret").replace("v1", "v0")],
    ids=["empty", "garbage", "other-body", "wrong-version"],
)
async def test_bad_signature_is_401_and_nothing_stored(
    client: httpx.AsyncClient, signature: str
) -> None:
    response = await post(client, pd_event("incident.triggered", event_id="E1"), signature)
    assert response.status_code == 401
    assert incidents(engine_of(client)) == []


async def test_any_of_several_rotating_signatures_may_match(client: httpx.AsyncClient) -> None:
    payload = pd_event("incident.triggered", event_id="E1")
    body = json.dumps(payload).encode()
    header = f"{sign(body, 'old-secret')}, {sign(body)}"
    response = await client.post(URL, content=body, headers={"X-PagerDuty-Signature": header})
    assert response.status_code == 200


async def test_triggered_opens_incident_with_pagerduty_id_and_url(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, pd_event("incident.triggered", event_id="E1"))
    assert response.status_code == 200
    [incident] = incidents(engine_of(client))
    assert incident.pagerduty_incident_id == "Q1ABCDEF"
    assert incident.pagerduty_url == "https://acme.pagerduty.com/incidents/Q1ABCDEF"
    assert (incident.title, incident.service) == (
        "fraud-scorer p95 latency above SLO",
        "fraud-scorer",
    )
    assert response.json()["incident_id"] == incident.id


async def test_redelivered_event_id_is_deduplicated(client: httpx.AsyncClient) -> None:
    await post(client, pd_event("incident.triggered", event_id="E1"))
    again = await post(client, pd_event("incident.triggered", event_id="E1"))
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert len(incidents(engine_of(client))) == 1
    assert [m.kind for m in outbox(engine_of(client))] == ["root_post"]


async def test_acknowledged_then_resolved_update_the_incident(client: httpx.AsyncClient) -> None:
    await post(client, pd_event("incident.triggered", event_id="E1"))
    await post(client, pd_event("incident.acknowledged", event_id="E2"))
    [incident] = incidents(engine_of(client))
    assert incident.status == "acknowledged"
    assert incident.acknowledged_at is not None
    await post(client, pd_event("incident.resolved", event_id="E3"))
    [incident] = incidents(engine_of(client))
    assert incident.status == "resolved"
    assert timeline_kinds(engine_of(client), incident.id) == [
        "incident_opened",
        "pagerduty_triggered",
        "pagerduty_acknowledged",
        "pagerduty_resolved",
    ]


async def test_triggered_links_to_the_alertmanager_incident_of_the_same_group(
    client: httpx.AsyncClient, firing: dict[str, Any]
) -> None:
    am = await client.post(
        "/webhooks/alertmanager", json=firing, headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert am.status_code == 200
    # Alertmanager's PagerDuty receiver sends the SHA-256 of the group key as the dedup key.
    key = hashlib.sha256(firing["groupKey"].encode()).hexdigest()
    response = await post(client, pd_event("incident.triggered", event_id="E1", incident_key=key))
    [incident] = incidents(engine_of(client))
    assert response.json()["incident_id"] == incident.id
    assert incident.source == "alertmanager"
    assert incident.pagerduty_incident_id == "Q1ABCDEF"


async def test_unknown_event_types_are_stored_and_ignored(client: httpx.AsyncClient) -> None:
    response = await post(client, pd_event("incident.annotated", event_id="E9"))
    assert response.status_code == 200
    assert response.json()["ignored"] is True
    assert incidents(engine_of(client)) == []


async def test_malformed_body_with_valid_signature_is_400(client: httpx.AsyncClient) -> None:
    body = b'{"event": {"id": "E1"}}'
    response = await client.post(URL, content=body, headers={"X-PagerDuty-Signature": sign(body)})
    assert response.status_code == 400
    assert "event.event_type" in response.json()["error"]
