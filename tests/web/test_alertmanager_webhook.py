"""POST /webhooks/alertmanager: auth, validation, size, storage failures, metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.asgi import AM_TOKEN, asgi_client
from tests.support.store import incidents

URL = "/webhooks/alertmanager"
AUTH = {"Authorization": f"Bearer {AM_TOKEN}"}


def _engine(client: httpx.AsyncClient) -> Any:
    return client.app.state.runtime.engine  # type: ignore[attr-defined]


async def test_valid_delivery_is_stored_before_200(
    client: httpx.AsyncClient, firing: dict[str, Any]
) -> None:
    response = await client.post(URL, json=firing, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "stored"
    assert body["alerts"]["new"] == 1
    [incident] = incidents(_engine(client))
    assert body["incidents"]["opened"] == [incident.id]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": AM_TOKEN},
        {"Authorization": f"Basic {AM_TOKEN}"},
    ],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
async def test_bad_or_missing_token_is_401_and_nothing_stored(
    client: httpx.AsyncClient, firing: dict[str, Any], headers: dict[str, str]
) -> None:
    response = await client.post(URL, json=firing, headers=headers)
    assert response.status_code == 401
    assert incidents(_engine(client)) == []
    metrics = (await client.get("/metrics")).text
    assert (
        'opsbot_webhook_rejected_total{reason="unauthorized",source="alertmanager"} 1.0' in metrics
    )


async def test_no_token_configured_refuses_everything(
    make_app: Callable[..., FastAPI], firing: dict[str, Any]
) -> None:
    app = make_app(alertmanager_token=None)
    async with asgi_client(app) as c:
        for headers in ({}, {"Authorization": "Bearer "}, AUTH):
            assert (await c.post(URL, json=firing, headers=headers)).status_code == 401
        assert incidents(app.state.runtime.engine) == []


async def test_malformed_json_is_400_with_reason(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, content=b'{"version": "4", ', headers=AUTH)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.pop("groupKey"), "groupKey"),
        (lambda p: p.update(alerts=[]), "alerts"),
        (lambda p: p["alerts"][0].pop("fingerprint"), "alerts.0.fingerprint"),
        (lambda p: p["alerts"][0].update(status="exploded"), "alerts.0.status"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0].update(labels=["not", "a", "map"]), "alerts.0.labels"),
    ],
)
async def test_schema_violations_are_400_naming_the_field(
    client: httpx.AsyncClient, firing: dict[str, Any], mutate: Any, reason: str
) -> None:
    mutate(firing)
    response = await client.post(URL, json=firing, headers=AUTH)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert incidents(_engine(client)) == []


async def test_body_over_256_kib_is_413(client: httpx.AsyncClient, firing: dict[str, Any]) -> None:
    firing["commonAnnotations"]["description"] = "x" * (256 * 1024)
    response = await client.post(URL, json=firing, headers=AUTH)
    assert response.status_code == 413
    assert incidents(_engine(client)) == []


async def test_oversized_body_without_content_length_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(300):
            yield b"x" * 1024

    response = await client.post(URL, content=chunks(), headers=AUTH)
    assert response.status_code == 413


async def test_database_down_is_503_never_2xx(
    make_app: Callable[..., FastAPI], firing: dict[str, Any]
) -> None:
    # Nothing listens on port 1: every connection attempt fails, like a dead PostgreSQL.
    app = make_app(database_url="postgresql://postgres@127.0.0.1:1/none")
    async with asgi_client(app) as c:
        response = await c.post(URL, json=firing, headers=AUTH)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert (await c.get("/readyz")).status_code == 503
        assert (await c.get("/healthz")).status_code == 200


async def test_metrics_count_received_deduplicated_and_opened(
    client: httpx.AsyncClient, firing: dict[str, Any], resolved: dict[str, Any]
) -> None:
    for payload in (firing, firing, resolved):
        assert (await client.post(URL, json=payload, headers=AUTH)).status_code == 200
    text = (await client.get("/metrics")).text
    assert 'opsbot_alerts_received_total{source="alertmanager"} 3.0' in text
    assert 'opsbot_alerts_deduplicated_total{source="alertmanager"} 1.0' in text
    assert 'opsbot_incidents_opened_total{source="alertmanager"} 1.0' in text
    assert 'opsbot_incidents_resolved_total{source="alertmanager"} 1.0' in text
    # Root post, 2 replies and a redraw request (folded into the post when it goes out).
    assert "opsbot_outbox_depth 4.0" in text


async def test_example_alert_shipped_in_repo_is_accepted(client: httpx.AsyncClient) -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "alertmanager-firing.json"
    response = await client.post(URL, content=example.read_bytes(), headers=AUTH)
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["incidents"]["opened"]
