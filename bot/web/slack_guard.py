"""The door of ``POST /slack/events``: a body cap and Slack's signature, before Bolt reads a byte.

    request ─ not /slack/events ──────────────────────────────────────────────> the app
            └ Content-Length over the cap ─────────────────> 413, nothing read
            └ read the body, counting ─ over the cap ──────> 413, the rest left unread
            └ timestamp older than 5 min (or in the future) > 401 stale
            └ signature does not match the signing secret ─> 401 bad_signature
            └ the app (Bolt), with the body handed on as it was read

Each refusal adds one to ``opsbot_slack_requests_refused_total{reason}`` and one short debug line
that never holds the body. Bolt checks the signature again (defence in depth) and, when its own
check fails, logs the whole body at INFO: ``quiet_bolt_verification_log`` drops that line, so no
request body reaches a log whichever check refuses it.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI
from slack_sdk.signature import SignatureVerifier
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import Settings
from bot.metrics import Metrics

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 64 * 1024  # Slack's commands, clicks and events are a few KiB
MAX_CLOCK_SKEW_S = 300  # Slack's own rule: a request older than five minutes is a replay
# Bolt's verification middleware logs through ``slack_bolt.<its class name>``.
BOLT_VERIFICATION_LOGGERS = (
    "slack_bolt.RequestVerification",
    "slack_bolt.AsyncRequestVerification",
)


class SlackGuard:
    """Pure ASGI wrapper: caps, reads and verifies Slack's requests, then passes them on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        signing_secret: str | None,
        metrics: Metrics,
        max_body: int = MAX_BODY_BYTES,
        path: str = SLACK_EVENTS_PATH,
    ) -> None:
        self.app = app
        # None (Slack not configured, or Socket Mode): the cap still applies, there is nothing
        # to verify, and the route behind answers 404 anyway.
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.metrics = metrics
        self.max_body = max_body
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        claimed = headers.get("content-length", "")
        if claimed and (not claimed.isdigit() or int(claimed) > self.max_body):
            await self._refuse(send, 413, "too_large", f"Content-Length {claimed[:20]}")
            return
        body = await self._read(receive)
        if body is None:
            await self._refuse(send, 413, "too_large", "body grew past the cap while read")
            return
        if self.verifier is not None:
            reason = self._check(body, headers)
            if reason is not None:
                await self._refuse(send, 401, reason, f"{len(body)} bytes")
                return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the cap (the rest is never read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _check(self, body: bytes, headers: dict[str, str]) -> str | None:
        """None when Slack signed this body recently; else the refusal's reason."""
        assert self.verifier is not None
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or not signature:
            return "bad_signature"
        if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_S:
            return "stale"
        if not self.verifier.is_valid(body, timestamp, signature):
            return "bad_signature"
        return None

    async def _refuse(self, send: Send, status: int, reason: str, detail: str) -> None:
        self.metrics.slack_requests_refused.labels(reason=reason).inc()
        log.debug("slack request refused: %s (%s)", reason, detail)
        error = {
            "too_large": f"request body over {self.max_body // 1024} KiB",
            "stale": "request timestamp is more than five minutes off",
            "bad_signature": "invalid request signature",
        }[reason]
        payload = json.dumps({"error": error}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _DropBodyLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "body" not in record.getMessage()


def quiet_bolt_verification_log() -> None:
    """Bolt's refusal line holds the whole request body: never let it through."""
    for name in BOLT_VERIFICATION_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropBodyLines) for f in logger.filters):
            logger.addFilter(_DropBodyLines())


def install_slack_guard(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Put the guard in front of ``POST /slack/events``: verified in HTTP mode, capped always."""
    secret = settings.slack_signing_secret
    verify = secret is not None and not settings.socket_mode
    quiet_bolt_verification_log()
    app.add_middleware(
        SlackGuard,
        signing_secret=secret.get_secret_value() if verify and secret else None,
        metrics=metrics,
    )
