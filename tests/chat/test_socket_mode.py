"""Socket Mode: with SLACK_APP_TOKEN set opsbot connects out and takes /ops over the websocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from tests.fakes.slack.api import SlackEmulator


async def test_slash_command_over_socket_mode_is_acked_and_answered(
    make_app: Callable[..., FastAPI], tmp_path: Path
) -> None:
    with SlackEmulator(channels=("C0INCIDENT",)) as slack:
        app = make_app(
            slack_bot_token="xoxb-test-token",
            slack_app_token="xapp-test-token",
            slack_api_url=slack.api_url,
        )
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(slack.wait_for_socket_client, 10)
            payload = {
                "token": "unused",
                "team_id": "T0TEST",
                "channel_id": "C0INCIDENT",
                "user_id": "U0ONCALL",
                "command": "/ops",
                "text": "help",
                "api_app_id": "A0TEST",
                "response_url": slack.response_url("sm"),
                "trigger_id": "1.2.3",
            }
            ack = await asyncio.to_thread(
                slack.push_envelope, "slash_commands", payload, accepts_response_payload=True
            )
            assert ack["envelope_id"]
            await asyncio.to_thread(slack.wait_for, lambda: len(slack.responses("sm")) == 1, 10)
            assert "Usage: /ops" in slack.responses("sm")[0]["text"]
        assert slack.calls("apps.connections.open")[0]["ok"] is True
