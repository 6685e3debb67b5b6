"""The webhooks' POSTs are answered before FastAPI's routing (bot/web/webhook_fast_path.py), by
the handlers the routes hold; everything around them behaves as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.incidents import alertmanager_flow
from bot.web.intake_routes import ALERTMANAGER_PATH, PAGERDUTY_PATH
from tests.support.asgi import AM_TOKEN, asgi_client
from tests.support.store import incidents

AUTH = {"Authorization": f"Bearer {AM_TOKEN}"}


async def test_a_delivery_is_answered_without_fastapis_routing(
    make_app: Callable[..., FastAPI], firing: dict[str, Any]
) -> None:
    app = make_app()
    # Take the routes away: the answer can only come from the fast path.
    app.router.routes = [
        r
        for r in app.router.routes
        if getattr(r, "path", "") not in (ALERTMANAGER_PATH, PAGERDUTY_PATH)
    ]
    async with asgi_client(app) as client:
        response = await client.post(ALERTMANAGER_PATH, json=firing, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["alerts"]["new"] == 1
        assert len(incidents(app.state.runtime.engine)) == 1


@pytest.mark.parametrize("path", [ALERTMANAGER_PATH, PAGERDUTY_PATH])
async def test_another_method_still_gets_fastapis_405(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_an_unexpected_error_is_still_a_500(
    make_app: Callable[..., FastAPI], firing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(alertmanager_flow, "ingest", broken)
    app = make_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://opsbot") as client:
            response = await client.post(ALERTMANAGER_PATH, json=firing, headers=AUTH)
    finally:
        app.state.runtime.engine.dispose()
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
