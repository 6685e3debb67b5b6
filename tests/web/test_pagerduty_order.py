"""PagerDuty events in any order converge to PagerDuty's state (bot/incidents/pagerduty_flow.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.asgi import AM_TOKEN, asgi_client, engine_of
from tests.support.pagerduty_requests import pd_event, post
from tests.support.readback import assert_outbox_drains, assert_renders_and_exports
from tests.support.store import incidents, timeline_kinds

OCCURRED = {
    "incident.triggered": "2026-11-27T05:00:00Z",
    "incident.acknowledged": "2026-11-27T05:03:00Z",
    "incident.resolved": "2026-11-27T05:20:00Z",
}


@pytest.fixture
async def client(make_app: Callable[..., FastAPI], db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(make_app(database_url=db_url)) as c:
        yield c


def event(event_type: str, pd_id: str = "Q1ABCDEF") -> dict[str, Any]:
    body = pd_event(event_type, event_id=f"{pd_id}-{event_type}", pd_id=pd_id)
    body["event"]["occurred_at"] = OCCURRED[event_type]
    return body


def at(event_type: str) -> datetime:
    return datetime.fromisoformat(OCCURRED[event_type]).astimezone(UTC)


async def test_resolved_before_triggered_leaves_the_incident_resolved(
    client: httpx.AsyncClient,
) -> None:
    early = await post(client, event("incident.resolved"))
    assert early.status_code == 200
    assert (early.json()["incident_id"], early.json()["ignored"]) == (None, True)
    assert (await post(client, event("incident.triggered"))).status_code == 200
    [incident] = incidents(engine_of(client))
    assert incident.status == "resolved"
    assert (incident.opened_at, incident.resolved_at) == (
        at("incident.triggered"),
        at("incident.resolved"),
    )
    assert timeline_kinds(engine_of(client), incident.id) == [
        "incident_opened",
        "pagerduty_triggered",
        "pagerduty_resolved",
    ]
    assert_renders_and_exports(engine_of(client), incident.id)
    await assert_outbox_drains(engine_of(client))


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(OCCURRED)),
    ids=lambda order: "-".join(e.split(".")[1][:3] for e in order),
)
async def test_any_arrival_order_gives_the_same_incident(
    client: httpx.AsyncClient, order: tuple[str, ...]
) -> None:
    for event_type in order:
        assert (await post(client, event(event_type))).status_code == 200
    # A redelivery of each, in reverse, changes nothing.
    for event_type in reversed(order):
        assert (await post(client, event(event_type))).json()["duplicate"] is True
    [incident] = incidents(engine_of(client))
    assert (
        incident.status,
        incident.opened_at,
        incident.acknowledged_at,
        incident.resolved_at,
    ) == (
        "resolved",
        at("incident.triggered"),
        at("incident.acknowledged"),
        at("incident.resolved"),
    )
    assert sorted(timeline_kinds(engine_of(client), incident.id)) == [
        "incident_opened",
        "pagerduty_acknowledged",
        "pagerduty_resolved",
        "pagerduty_triggered",
    ]


async def test_a_late_triggered_never_reopens(client: httpx.AsyncClient) -> None:
    for event_type in ("incident.triggered", "incident.resolved"):
        await post(client, event(event_type))
    late = pd_event("incident.triggered", event_id="late-copy")
    late["event"]["occurred_at"] = OCCURRED["incident.triggered"]
    assert (await post(client, late)).status_code == 200
    [incident] = incidents(engine_of(client))
    assert incident.status == "resolved"


async def test_waiting_events_of_one_pagerduty_incident_do_not_touch_another(
    client: httpx.AsyncClient,
) -> None:
    await post(client, event("incident.resolved", pd_id="QOTHER"))
    await post(client, event("incident.triggered"))
    [incident] = incidents(engine_of(client))
    assert incident.status == "firing"
    await post(client, event("incident.triggered", pd_id="QOTHER"))
    other = next(i for i in incidents(engine_of(client)) if i.pagerduty_incident_id == "QOTHER")
    assert other.status == "resolved"


async def test_an_alertmanager_group_named_like_a_pagerduty_incident_is_linked_not_a_conflict(
    client: httpx.AsyncClient, firing: dict[str, Any]
) -> None:
    firing["groupKey"] = "pagerduty:Q1ABCDEF"  # any text is a valid group key
    am = await client.post(
        "/webhooks/alertmanager", json=firing, headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert am.status_code == 200
    response = await post(client, event("incident.triggered"))
    assert response.status_code == 200, response.text
    [incident] = incidents(engine_of(client))
    assert (incident.source, incident.pagerduty_incident_id) == ("alertmanager", "Q1ABCDEF")
