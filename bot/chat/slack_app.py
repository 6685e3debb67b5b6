"""The Bolt app: ``/ops`` (and later buttons and mentions) in, replies out.

Listeners only translate a Slack request into a call of the domain and ``ack()`` at once; the
answer goes back through ``respond()`` (the command's response_url).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands import CommandContext, run_command
from bot.runtime import Runtime

log = logging.getLogger(__name__)


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

    @app.command("/ops")
    async def ops_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        ctx = CommandContext(
            engine=rt.engine,
            user=command.get("user_id", "?"),
            channel=command.get("channel_id"),
            catalog=rt.catalog,
        )
        reply = await anyio.to_thread.run_sync(run_command, ctx, command.get("text", ""))
        await respond(text=reply.text, blocks=reply.blocks, response_type="ephemeral")

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], respond: Any = None) -> None:
        log.exception("slack listener failed: %s", error)
        if respond is not None:
            await respond(
                text=f"opsbot could not run that ({type(error).__name__}). "
                "Nothing was changed; try again, or use `/ops help`.",
                response_type="ephemeral",
            )

    return app
