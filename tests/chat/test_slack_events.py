"""POST /slack/events through Bolt: signed slash commands, refused forgeries, Socket Mode."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.payloads import am_alert, am_payload
from tests.support.slack_requests import SIGNING_SECRET, signed_headers, slash_command
from tests.support.store import ingest


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("C0INCIDENT",)) as emulator:
        yield emulator


@pytest.fixture
async def slack_client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator
) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
    )
    async with asgi_client(app) as client:
        yield client


async def test_signed_slash_command_is_acked_and_answered_via_response_url(
    slack_client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    ingest(
        slack_client.app.state.runtime.engine,  # type: ignore[attr-defined]
        am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]),
    )
    body = slash_command("incidents", slack.response_url("r1"))
    started = time.monotonic()
    response = await slack_client.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0  # Slack's ack deadline
    # The answer comes from a listener still running on this loop: wait without blocking it.
    await slack.await_for(lambda: len(slack.responses("r1")) == 1, timeout=10)
    [answer] = slack.responses("r1")
    assert answer["response_type"] == "ephemeral"
    assert "fraud-scorer" in answer["text"]


async def test_unknown_subcommand_gets_usage_help(
    slack_client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    body = slash_command("frobnicate now", slack.response_url("r2"))
    response = await slack_client.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    await slack.await_for(lambda: len(slack.responses("r2")) == 1, timeout=10)
    assert "Usage: /ops" in slack.responses("r2")[0]["text"]


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: signed_headers(body, secret="not-the-secret"),
        lambda body: signed_headers(body, timestamp=int(time.time()) - 600),
        lambda body: {"Content-Type": "application/x-www-form-urlencoded"},
    ],
    ids=["bad-signature", "stale-timestamp", "unsigned"],
)
async def test_forged_or_replayed_requests_are_refused(
    slack_client: httpx.AsyncClient, slack: SlackEmulator, headers: Callable[[bytes], Any]
) -> None:
    body = slash_command("incidents", slack.response_url("r3"))
    response = await slack_client.post("/slack/events", content=body, headers=headers(body))
    assert response.status_code == 401
    assert slack.responses("r3") == []


async def test_url_verification_challenge_is_answered(slack_client: httpx.AsyncClient) -> None:
    body = json.dumps({"token": "x", "challenge": "c-123", "type": "url_verification"}).encode()
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    response = await slack_client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}


async def test_without_slack_credentials_events_endpoint_says_so(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/slack/events", content=b"{}")
    assert response.status_code == 404
    assert "SLACK_BOT_TOKEN" in response.json()["error"]
