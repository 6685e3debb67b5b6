"""GET /api/v1/incidents[/{id}]: bearer OPSBOT_API_TOKEN, incidents with alerts and timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.asgi import asgi_client
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

API_TOKEN = "api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def api(make_app: Callable[..., FastAPI]) -> Any:
    app = make_app(api_token=API_TOKEN)
    engine = app.state.runtime.engine
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    ingest(engine, am_payload("ranker", [am_alert("ranker", 1)]))
    ingest(engine, am_payload("ranker", [am_alert("ranker", 1, status="resolved")]))
    async with asgi_client(app) as c:
        yield c


async def test_open_incidents_are_listed_by_default(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/incidents", headers=AUTH)
    assert response.status_code == 200
    [only] = response.json()["incidents"]
    assert (only["service"], only["status"], only["alerts_firing"]) == ("fraud-scorer", "firing", 1)


async def test_resolved_and_all_filters(api: httpx.AsyncClient) -> None:
    resolved = (await api.get("/api/v1/incidents?status=resolved", headers=AUTH)).json()
    assert [i["service"] for i in resolved["incidents"]] == ["ranker"]
    every = (await api.get("/api/v1/incidents?status=all", headers=AUTH)).json()
    assert [i["service"] for i in every["incidents"]] == ["ranker", "fraud-scorer"]


async def test_detail_has_alerts_and_timeline_in_order(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/api/v1/incidents?status=resolved", headers=AUTH)).json()
    incident_id = listed["incidents"][0]["id"]
    detail = (await api.get(f"/api/v1/incidents/{incident_id}", headers=AUTH)).json()
    [alert] = detail["alerts"]
    assert (alert["alertname"], alert["status"]) == ("ModelLatencyHigh", "resolved")
    assert [e["kind"] for e in detail["timeline"]] == [
        "incident_opened",
        "alert_firing",
        "alert_resolved",
        "incident_resolved",
    ]
    assert detail["resolved_at"] is not None


@pytest.mark.parametrize(
    ("url", "status", "reason"),
    [
        ("/api/v1/incidents/999", 404, "no incident 999"),
        ("/api/v1/incidents?status=burning", 400, "status must be one of"),
        ("/api/v1/incidents?limit=0", 400, "limit must be between"),
    ],
)
async def test_bad_requests_say_why(
    api: httpx.AsyncClient, url: str, status: int, reason: str
) -> None:
    response = await api.get(url, headers=AUTH)
    assert response.status_code == status
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}], ids=["missing", "wrong"]
)
@pytest.mark.parametrize("url", ["/api/v1/incidents", "/api/v1/incidents/1"])
async def test_without_the_api_token_nothing_is_returned(
    api: httpx.AsyncClient, headers: dict[str, str], url: str
) -> None:
    response = await api.get(url, headers=headers)
    assert response.status_code == 401
    assert "incidents" not in response.json()


async def test_no_api_token_configured_refuses_everything(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(api_token=None)
    async with asgi_client(app) as c:
        assert (await c.get("/api/v1/incidents", headers=AUTH)).status_code == 401
