"""What Slack sends opsbot, built and signed as Slack does, and the helpers that post it.

Bodies: ``slash_command`` (``/ops <text>`` as the on-call ``U0ONCALL`` types it), ``click`` (a
``block_actions`` button click) and ``event_body`` (an Events API ``event_callback``).
``signed_headers`` signs a body with ``SIGNING_SECRET`` (the secret the tests give the bot), or
with another secret or an old timestamp, for the forgeries.

Posting: ``post`` (an in-process client of the app, form body), ``post_event`` (the same, an
event as JSON, optionally marked as Slack's retry), ``post_to_bot`` (a real ``opsbot serve``).
``post_message`` is the other direction: a person's message posted to the Slack emulator
through the Web API (tests/fakes/slack/), as a channel member would write it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack.api import SlackEmulator
from tests.support.server import BotProcess

SIGNING_SECRET = "slack-signing-secret"
CHANNEL = "C0INCIDENT"
EVENTS_PATH = "/slack/events"


def signed_headers(
    body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


def slash_command(text: str, response_url: str) -> bytes:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token-unused",
            "team_id": "T0TEST",
            "team_domain": "opsbot-test",
            "channel_id": CHANNEL,
            "channel_name": "incidents",
            "user_id": "U0ONCALL",
            "user_name": "ada",
            "command": "/ops",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    ).encode()


def click(action_id: str, value: str, user: str, response_url: str) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0TEST", "domain": "opsbot-test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token-unused",
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL, "name": "incidents"},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "opsbot_approval",
                "value": value,
                "action_ts": "1.000002",
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {
            "token": "legacy-verification-token-unused",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "event": event,
        }
    ).encode()


async def post(client: httpx.AsyncClient, body: bytes) -> None:
    """A signed form body (slash command, click) to the app; Slack wants a 200."""
    response = await client.post(EVENTS_PATH, content=body, headers=signed_headers(body))
    assert response.status_code == 200


async def post_event(
    client: httpx.AsyncClient, event: dict[str, Any], event_id: str, retry: int = 0
) -> None:
    """A signed event to the app; ``retry`` > 0 marks it as Slack's n-th retry of ``event_id``."""
    body = event_body(event, event_id)
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    response = await client.post(EVENTS_PATH, content=body, headers=headers)
    assert response.status_code == 200


def post_to_bot(bot: BotProcess, body: bytes) -> None:
    """A signed form body to a running ``opsbot serve``."""
    httpx.post(
        f"{bot.url}{EVENTS_PATH}", content=body, headers=signed_headers(body)
    ).raise_for_status()


async def post_message(slack: SlackEmulator, text: str, channel: str = CHANNEL) -> str:
    """A person's message in ``channel`` of the Slack emulator; its ``ts``."""
    from slack_sdk.web.async_client import AsyncWebClient

    web = AsyncWebClient(token="xoxb-test-token", base_url=slack.api_url)
    answer = await web.chat_postMessage(channel=channel, text=text)
    return str(answer["ts"])
