"""GET /api/v1/report: bearer OPSBOT_API_TOKEN, a period, the KPIs of tests/reports/history.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.reports.history import CATALOG_YAML, october
from tests.support.asgi import asgi_client

API_TOKEN = "api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
OCTOBER = "since=2026-10-01T00:00:00Z&until=2026-11-01T00:00:00Z"


@pytest.fixture
def app_for(make_app: Callable[..., FastAPI], tmp_path: Path) -> Callable[..., FastAPI]:
    services = tmp_path / "services.yaml"
    services.write_text(CATALOG_YAML)

    def make(**overrides: Any) -> FastAPI:
        app = make_app(api_token=API_TOKEN, services_file=services, **overrides)
        october(app.state.runtime.engine)
        return app

    return make


@pytest.fixture
async def api(app_for: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app_for()) as c:
        yield c


async def test_october_figures(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/api/v1/report?{OCTOBER}", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    # the same figures as tests/reports/test_kpis.py, where the arithmetic is written out
    assert body["period"] == {
        "since": "2026-10-01T00:00:00+00:00",
        "until": "2026-11-01T00:00:00+00:00",
        "days": 31,
    }
    assert body["incidents"]["total"] == 6
    assert body["response"]["mtta"] == {"n": 5, "median_s": 300.0, "p90_s": 960.0}
    assert body["response"]["mttr"] == {"n": 5, "median_s": 2400.0, "p90_s": 7920.0}
    assert body["response"]["mttd"] == {"n": 2, "median_s": 210.0, "p90_s": 282.0}
    change = body["change_failure"]
    assert (change["window_min"], change["deploys"], change["failed"]) == (360, 9, 3)
    assert change["rate"] == pytest.approx(1 / 3)
    assert [f["version"] for f in change["failed_deploys"]] == ["1.4.2", "r-51", "v3"]
    assert body["deploys"]["by_service"]["fraud-scorer"] == {"total": 4, "code": 3, "model": 1}
    # the app's catalog maps the Deployment fraud-scorer-api to its service
    assert body["rollbacks"] == {"total": 2, "by_service": {"fraud-scorer": 1, "legacy-batch": 1}}
    assert body["top_alerts"][0] == {
        "alertname": "ModelLatencyHigh",
        "incidents": 3,
        "occurrences": 3,
    }


async def test_the_window_is_the_configured_one(app_for: Callable[..., FastAPI]) -> None:
    # 300 min: D1's incident came 3h01m later and D7's 4h later, D3's 6h later -> 2 of 9
    async with asgi_client(app_for(change_failure_window_min=300)) as c:
        change = (await c.get(f"/api/v1/report?{OCTOBER}", headers=AUTH)).json()["change_failure"]
    assert (change["window_min"], change["failed"]) == (300, 2)
    assert [f["version"] for f in change["failed_deploys"]] == ["1.4.2", "v3"]


async def test_a_length_counts_back_from_until(api: httpx.AsyncClient) -> None:
    url = "/api/v1/report?since=7d&until=2026-10-16T00:00:00Z"
    body = (await api.get(url, headers=AUTH)).json()
    assert body["period"]["since"] == "2026-10-09T00:00:00+00:00"
    assert body["incidents"]["total"] == 2  # I2 (10-10) and I3 (10-15)


async def test_the_default_is_the_last_30_days(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/report", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["period"]["days"] == 30


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("since=yesterday", "since must be a length like 30d"),
        ("since=400d", "`400d` is out of range"),
        ("since=2026-10-01&until=soon", "until must be an ISO 8601 time"),
        ("since=2026-11-01&until=2026-10-01", "must be before until"),
        ("since=2024-01-01&until=2026-01-01", "at most 365 days"),
    ],
)
async def test_a_bad_period_is_a_400_that_says_why(
    api: httpx.AsyncClient, query: str, reason: str
) -> None:
    response = await api.get(f"/api/v1/report?{query}", headers=AUTH)
    assert response.status_code == 400
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}], ids=["missing", "wrong"]
)
async def test_without_the_api_token_no_report(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await api.get(f"/api/v1/report?{OCTOBER}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or invalid bearer token"}
