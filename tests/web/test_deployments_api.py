"""POST /api/v1/deployments: deploy events from CI/CD, validated, stored once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from bot.chat.commands import CommandContext, run_command
from bot.store.models import Deployment
from tests.support.asgi import asgi_client

API_TOKEN = "api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
URL = "/api/v1/deployments"


def deploy(**overrides: Any) -> dict[str, Any]:
    event = {
        "service": "fraud-scorer",
        "kind": "model",
        "version": "1.4.2",
        "environment": "production",
        "commit": "9f1c2ab7d3e4",
        "actor": "ci/release-pipeline",
        "timestamp": "2026-11-27T04:49:00Z",
        "url": "https://ci.example/pipelines/812",
    }
    event.update(overrides)
    return event


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(api_token=API_TOKEN)  # its engine is disposed by the client fixture


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


def stored(app: FastAPI) -> list[Deployment]:
    with Session(app.state.runtime.engine) as s:
        return list(s.exec(select(Deployment)).all())


async def test_deploy_event_is_stored_with_201(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post(URL, json=deploy(), headers=AUTH)
    assert response.status_code == 201
    assert response.json()["created"] is True
    [row] = stored(app)
    assert (row.service, row.kind, row.version, row.commit) == (
        "fraud-scorer",
        "model",
        "1.4.2",
        "9f1c2ab7d3e4",
    )
    assert row.deployed_at.isoformat() == "2026-11-27T04:49:00+00:00"


async def test_repeated_event_is_deduplicated(client: httpx.AsyncClient, app: FastAPI) -> None:
    first = await client.post(URL, json=deploy(), headers=AUTH)
    again = await client.post(URL, json=deploy(actor="a retry"), headers=AUTH)
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "created": False}
    assert len(stored(app)) == 1


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (deploy(kind="config"), "kind"),
        (deploy(timestamp="2026-11-27T04:49:00"), "timestamp"),
        (deploy(service=""), "service"),
        (deploy(url="not a url"), "url"),
        ({**deploy(), "extra": "field"}, "extra"),
        ({k: v for k, v in deploy().items() if k != "version"}, "version"),
    ],
    ids=["kind", "naive-time", "empty-service", "bad-url", "extra-field", "missing-version"],
)
async def test_bad_events_are_400_with_the_field(
    client: httpx.AsyncClient, app: FastAPI, event: dict[str, Any], reason: str
) -> None:
    response = await client.post(URL, json=event, headers=AUTH)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert stored(app) == []


async def test_unauthorised_and_oversized_are_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    assert (await client.post(URL, json=deploy())).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post(URL, json=deploy(), headers=wrong)).status_code == 401
    huge = deploy(actor="x" * 70_000)
    assert (await client.post(URL, json=huge, headers=AUTH)).status_code == 413
    assert (await client.post(URL, content=b"{not json", headers=AUTH)).status_code == 400
    assert stored(app) == []


async def test_deploys_command_lists_newest_first(client: httpx.AsyncClient, app: FastAPI) -> None:
    await client.post(
        URL, json=deploy(version="1.4.1", timestamp="2026-11-26T10:00:00Z"), headers=AUTH
    )
    await client.post(URL, json=deploy(), headers=AUTH)
    await client.post(URL, json=deploy(service="ranker", kind="code", version="r-77"), headers=AUTH)
    ctx = CommandContext(engine=app.state.runtime.engine)
    lines = run_command(ctx, "deploys fraud-scorer").text.splitlines()
    assert "model 1.4.2 (9f1c2ab7d3e4) by ci/release-pipeline" in lines[1]
    assert "model 1.4.1" in lines[2]
    assert len(lines) == 3
    assert "No deploys recorded for checkout" in run_command(ctx, "deploys checkout").text
    assert "Usage: /ops deploys <service>" in run_command(ctx, "deploys").text
