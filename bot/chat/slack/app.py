"""The Bolt app: ``/ops``, buttons, reactions and @mentions in, replies out.

Listeners only translate a Slack request into a call of the domain and ``ack()`` at once; the
answer goes back through ``respond()`` (the command's response_url) or the Web API.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack import (
    buttons,
    commands,
    declare,
    events,
    follow_ups,
    home,
    incident_controls,
    paging,
    silences,
)
from bot.chat.slack.events_once import events_once
from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Each module registers its own.
LISTENERS = (
    commands,
    buttons,
    events,
    incident_controls,
    declare,
    silences,
    paging,
    follow_ups,
    home,
)


def build_bolt_app(rt: Runtime, client: AsyncWebClient) -> AsyncApp:
    settings = rt.settings
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        # Socket Mode has no signed HTTP requests to verify.
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,
    )
    # Slack retries an event it thinks was missed: each event_id is handled once (any replica).
    app.middleware(events_once(rt.engine, rt.metrics))
    for module in LISTENERS:
        module.register(app, rt)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], respond: Any = None) -> None:
        log.exception("slack listener failed: %s", error)
        # Commands and clicks carry a response URL; an event (a mention, a reaction) has none,
        # and Bolt's respond() raises there.
        if respond is not None and body.get("response_url"):
            await respond(
                text=f"opsbot could not run that ({type(error).__name__}). "
                "Nothing was changed; try again, or use `/ops help`.",
                response_type="ephemeral",
            )

    return app
