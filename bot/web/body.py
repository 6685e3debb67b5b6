"""Reading a request body with a size cap, parsing it into a model, and bearer-token checks."""

from __future__ import annotations

import hmac
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from bot.errors import IntakeError

M = TypeVar("M", bound=BaseModel)


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


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)


def parse_json(model: type[M], raw: bytes) -> M:
    """``raw`` as ``model``, or ``IntakeError(400)`` naming what is wrong and where."""
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeError(400, f"malformed JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise IntakeError(400, _validation_reason(exc)) from None


def api_caller_ok(rt: Any, request: Request) -> bool:
    """Whether ``request`` carries ``OPSBOT_API_TOKEN`` as its bearer token (``rt``: the
    Runtime); a refusal is counted in the metrics."""
    token = rt.settings.api_token
    expected = token.get_secret_value() if token else None
    if bearer_ok(request.headers.get("authorization"), expected):
        return True
    rt.metrics.webhook_rejected.labels("api", "unauthorized").inc()
    return False
