"""Alert times as recorded: a start in the future is now, an end before the start is the start,
and the timeline says what was received and what was used (bot/incidents/alert_times.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.intake.times import FUTURE_SKEW
from tests.support.asgi import AM_TOKEN, asgi_client, engine_of
from tests.support.payloads import am_alert, am_payload
from tests.support.readback import assert_outbox_drains, assert_renders_and_exports, read_incident
from tests.support.store import alerts, incidents

API_TOKEN = "api-token"
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}"}
FAR = "9999-12-31T23:00:00Z"


@pytest.fixture
async def client(make_app: Callable[..., FastAPI], db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(make_app(database_url=db_url, api_token=API_TOKEN)) as c:
        yield c


def payload(status: str, starts: str, ends: str | None = None, receiver: str = "a") -> Any:
    alert = am_alert("fraud-scorer", 1, status=status)
    alert["startsAt"] = starts
    if ends is not None:
        alert["endsAt"] = ends
    body = am_payload("fraud-scorer", [alert])
    body["receiver"] = receiver  # another body each time: not the inbox's dedupe
    return body


async def deliver(client: httpx.AsyncClient, body: Any) -> Any:
    response = await client.post("/webhooks/alertmanager", json=body, headers=AM)
    assert response.status_code == 200, response.text
    return response.json()


def clamp_notes(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in detail["timeline"] if e["kind"] == "alert_time_clamped"]


@pytest.mark.parametrize("firing_first", [False, True], ids=["resolved-only", "firing-then"])
async def test_an_end_before_the_start_is_recorded_as_the_start(
    client: httpx.AsyncClient, firing_first: bool
) -> None:
    starts, ends = "2026-11-27T04:00:00Z", "2026-11-27T03:00:00Z"
    if firing_first:
        await deliver(client, payload("firing", starts))
    await deliver(client, payload("resolved", starts, ends, receiver="b"))
    [incident] = incidents(engine_of(client))
    [alert] = alerts(engine_of(client))
    assert alert.ends_at == alert.starts_at == datetime(2026, 11, 27, 4, tzinfo=UTC)
    assert incident.status == "resolved"
    assert incident.resolved_at is not None
    assert incident.resolved_at >= incident.opened_at
    detail = await read_incident(client, incident.id, API)
    [note] = clamp_notes(detail)
    assert note["text"] == (
        "ModelLatencyHigh endsAt 2026-11-27T03:00:00+00:00 is before the alert started: "
        "used 2026-11-27T04:00:00+00:00"
    )
    assert all(e["at"] >= detail["opened_at"] for e in detail["timeline"])
    assert_renders_and_exports(engine_of(client), incident.id)


async def test_a_start_in_the_future_is_now_and_the_alert_stays_one_occurrence(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC)
    opened = await deliver(client, payload("firing", FAR))
    again = await deliver(client, payload("firing", FAR, receiver="b"))
    assert again["alerts"]["deduplicated"] == 1
    resolved = await deliver(client, payload("resolved", FAR, "9999-12-31T23:30:00Z", "c"))
    assert resolved["alerts"]["resolved"] == 1
    after = datetime.now(UTC)

    [incident] = incidents(engine_of(client))
    assert opened["incidents"]["opened"] == [incident.id]
    [alert] = alerts(engine_of(client))
    assert before <= alert.starts_at <= after
    assert alert.ends_at is not None
    assert alert.starts_at <= alert.ends_at <= after
    assert incident.status == "resolved"
    detail = await read_incident(client, incident.id, API)
    latest = (after + FUTURE_SKEW).isoformat()
    assert all(e["at"] <= latest for e in detail["timeline"])
    notes = clamp_notes(detail)
    assert [(n["data"]["field"], n["data"]["received"]) for n in notes] == [
        ("startsAt", "9999-12-31T23:00:00+00:00"),
        ("endsAt", "9999-12-31T23:30:00+00:00"),
    ]
    assert all(n["text"].endswith(f"used {n['data']['used']}") for n in notes)
    assert_renders_and_exports(engine_of(client), incident.id)
    await assert_outbox_drains(engine_of(client))


async def test_a_start_within_the_skew_is_kept_as_sent(client: httpx.AsyncClient) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    await deliver(client, payload("firing", soon.isoformat()))
    [alert] = alerts(engine_of(client))
    assert alert.starts_at == soon
    [incident] = incidents(engine_of(client))
    assert clamp_notes(await read_incident(client, incident.id, API)) == []


async def test_two_future_starts_of_one_fingerprint_in_one_delivery_are_one_alert(
    client: httpx.AsyncClient,
) -> None:
    body = payload("firing", FAR)
    second = dict(body["alerts"][0], startsAt="9999-06-01T00:00:00Z")
    body["alerts"].append(second)
    result = await deliver(client, body)
    assert (result["alerts"]["new"], result["alerts"]["deduplicated"]) == (1, 1)
    assert len(alerts(engine_of(client))) == 1
