"""The guard in front of POST /slack/events: an oversized body is refused with 413 before it is
read, a forged or replayed one with 401, each refusal is counted in /metrics, and no log line at
any level holds a byte of a refused body."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from slack_bolt.middleware.request_verification.async_request_verification import (
    AsyncRequestVerification,
)

from bot.web.slack_guard import MAX_BODY_BYTES, quiet_bolt_verification_log
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.slack_requests import SIGNING_SECRET, signed_headers, slash_command

MARKER = b"BODY-MARKER-7f3a"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("C0INCIDENT",)) as emulator:
        yield emulator


@pytest.fixture
def every_log_line(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every level, set before the app exists (Bolt copies the root level into its
    loggers when it builds them)."""
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
async def client(
    every_log_line: pytest.LogCaptureFixture,
    make_app: Callable[..., FastAPI],
    slack: SlackEmulator,
) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
    )
    async with asgi_client(app) as c:
        yield c


async def refused(client: httpx.AsyncClient, reason: str) -> float:
    response = await client.get("/metrics")
    for line in response.text.splitlines():
        if line.startswith(f'opsbot_slack_requests_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return caplog.text + "".join(str(r.args) for r in caplog.records)


async def test_a_10_mb_body_with_a_bad_signature_is_refused_unread_and_unlogged(
    client: httpx.AsyncClient, every_log_line: pytest.LogCaptureFixture
) -> None:
    body = MARKER * (10 * 1024 * 1024 // len(MARKER))
    headers = signed_headers(body, secret="not-the-secret")
    started = time.monotonic()
    response = await client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 413
    assert time.monotonic() - started < 2.0
    assert "64 KiB" in response.json()["error"]
    assert MARKER.decode() not in logged(every_log_line)
    assert await refused(client, "too_large") == 1


async def test_a_chunked_body_is_cut_off_at_the_cap_without_reading_the_rest(
    client: httpx.AsyncClient, every_log_line: pytest.LogCaptureFixture
) -> None:
    chunk = MARKER * (16 * 1024 // len(MARKER))
    sent = 0

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        nonlocal sent
        for _ in range(640):  # 10 MiB in all, if anyone read it
            sent += 1
            yield chunk

    headers = signed_headers(b"", secret="not-the-secret")
    response = await client.post("/slack/events", content=stream(), headers=headers)
    assert response.status_code == 413
    assert sent * len(chunk) <= MAX_BODY_BYTES + len(chunk)
    assert MARKER.decode() not in logged(every_log_line)
    assert await refused(client, "too_large") == 1


@pytest.mark.parametrize(
    ("sign", "reason"),
    [
        (lambda body: signed_headers(body, secret="not-the-secret"), "bad_signature"),
        (lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, "bad_signature"),
        (lambda body: signed_headers(body, timestamp=int(time.time()) - 600), "stale"),
    ],
    ids=["bad-signature", "unsigned", "stale"],
)
async def test_a_small_forged_or_replayed_body_is_refused_counted_and_not_logged(
    client: httpx.AsyncClient,
    slack: SlackEmulator,
    every_log_line: pytest.LogCaptureFixture,
    sign: Callable[[bytes], dict[str, str]],
    reason: str,
) -> None:
    body = slash_command(f"incidents {MARKER.decode()}", slack.response_url("r"))
    response = await client.post("/slack/events", content=body, headers=sign(body))
    assert response.status_code == 401
    assert await refused(client, reason) == 1
    assert MARKER.decode() not in logged(every_log_line)
    assert slack.responses("r") == []


async def test_a_signed_request_still_reaches_bolt(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    body = slash_command("help", slack.response_url("ok"))
    response = await client.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    await slack.await_for(lambda: len(slack.responses("ok")) == 1, timeout=10)
    assert "Usage: /ops" in slack.responses("ok")[0]["text"]
    for reason in ("too_large", "bad_signature", "stale"):
        assert await refused(client, reason) == 0


def test_bolts_own_refusal_line_never_carries_the_body(
    every_log_line: pytest.LogCaptureFixture,
) -> None:
    # Bolt re-checks after the guard; should its check ever fail (a clock edge), its log line
    # would hold the whole body.
    quiet_bolt_verification_log()
    bolt = AsyncRequestVerification(SIGNING_SECRET)
    bolt._debug_log_error("v0=bad", "1700000000", MARKER.decode())
    assert MARKER.decode() not in logged(every_log_line)
