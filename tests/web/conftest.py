from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.app import build_app
from bot.config import Settings

AM_TOKEN = "am-secret-token"
PD_SECRET = "pd-webhook-secret"


@pytest.fixture
def make_app(sqlite_url: str) -> Callable[..., FastAPI]:
    def make(**overrides: Any) -> FastAPI:
        values: dict[str, Any] = {
            "database_url": sqlite_url,
            "alertmanager_token": AM_TOKEN,
            "pagerduty_webhook_secret": PD_SECRET,
            "incident_channel": "C0INCIDENT",
        }
        values.update(overrides)
        return build_app(Settings(**values), migrate=False)

    return make


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in process (``client.app`` is the app); the app's
    database engine is disposed afterwards."""
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://opsbot"
        ) as c:
            c.app = app  # type: ignore[attr-defined]
            yield c
    finally:
        app.state.runtime.engine.dispose()


@pytest.fixture
async def client(make_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(make_app()) as c:
        yield c
