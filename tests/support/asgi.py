"""The bot's FastAPI app built for a test, and an HTTP client that talks to it in process.

The ``make_app`` and ``client`` fixtures (``tests/conftest.py``) are built on these, on the
test's SQLite database, for the web tests (``tests/web/``) and the Slack listener tests
(``tests/chat/``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from bot.app import build_app
from bot.config import Settings

__all__ = ["AM_TOKEN", "PD_SECRET", "app_factory", "asgi_client", "engine_of"]

AM_TOKEN = "am-secret-token"
PD_SECRET = "pd-webhook-secret"


def app_factory(database_url: str) -> Callable[..., FastAPI]:
    """``make(**overrides)``: the app with test settings on ``database_url``, not migrated."""

    def make(**overrides: Any) -> FastAPI:
        values: dict[str, Any] = {
            "database_url": database_url,
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


def engine_of(client: httpx.AsyncClient) -> Engine:
    """The database engine of the app behind an ``asgi_client``."""
    engine: Engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    return engine
