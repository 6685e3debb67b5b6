"""Reading a request body with a size cap, and bearer-token checks (the JSON in it is parsed by
``bot.intake.json_body``)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request

from bot.errors import IntakeError


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, or ``IntakeError(413)`` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise IntakeError(413, f"body over {limit} bytes")
        except ValueError:
            raise IntakeError(400, "invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IntakeError(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def bearer_ok(header: str | None, expected: str | None) -> bool:
    """Constant-time check of ``Authorization: Bearer <token>``; no token configured → refuse."""
    if not expected or not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def api_caller_ok(rt: Any, request: Request) -> bool:
    """Whether ``request`` carries ``OPSBOT_API_TOKEN`` as its bearer token (``rt``: the
    Runtime); a refusal is counted in the metrics."""
    token = rt.settings.api_token
    expected = token.get_secret_value() if token else None
    if bearer_ok(request.headers.get("authorization"), expected):
        return True
    rt.metrics.webhook_rejected.labels("api", "unauthorized").inc()
    return False
