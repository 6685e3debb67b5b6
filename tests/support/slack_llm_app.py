"""The bot's app as `opsbot serve` runs it, with Slack on the emulator and an LLM at
``base_url`` (the OpenAI fake, or a real server): lifespan started, an in-process client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
from fastapi import FastAPI

from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.slack_requests import SIGNING_SECRET


@contextlib.asynccontextmanager
async def slack_llm_app(
    make_app: Callable[..., FastAPI],
    slack: SlackEmulator,
    *,
    api_key: str,
    base_url: str,
    timeout_s: float,
) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        slack_channel_rate=20,
        slack_channel_burst=20,
        openai_api_key=api_key,
        openai_base_url=base_url,
        llm_timeout_s=timeout_s,
    )
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        yield c
