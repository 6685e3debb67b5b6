"""Request parsing for the Slack emulator: how Slack reads a Web API call's arguments.

Arguments arrive as a query string, a form body or a JSON body; ``blocks``/``metadata`` may be
JSON values or JSON strings; timestamps are decimal strings (``"1700000000.000100"``), compared
here as integer microseconds; pagination cursors are base64 ``next_ts:<digits>``. A call Slack
would refuse raises ``ApiError`` (answered as HTTP 200 ``{"ok": false, "error": ...}``).
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

Json = dict[str, Any]


class ApiError(Exception):
    """A Web API error: HTTP 200 ``{"ok": false, "error": error}`` (and ``messages``, if any)."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class RateLimited(Exception):
    """Slack's rate limit: HTTP 429 with ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


async def read_body(request: web.Request) -> Json:
    """The arguments in a POST/PUT body, form-encoded or JSON (a JSON ``token`` is dropped)."""
    if request.method not in ("POST", "PUT"):
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.read() or b"{}")
        except ValueError:
            raise ApiError("invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError("json_not_object")
        data.pop("token", None)  # Slack ignores a token in a JSON body: header only
        return data
    form = await request.post()
    return {k: v if isinstance(v, str) else str(v) for k, v in form.items()}


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def json_arg(value: Any, bad_format: str) -> Any:
    """``blocks``/``metadata``/``attachments`` arrive as JSON values or as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(bad_format) from None
    return value


def ts_us(ts: str) -> int:
    return int(Decimal(ts) * 1_000_000)


def ts_str(us: int) -> str:
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def ts_bound(value: Any, error: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return ts_us(str(value))
    except (InvalidOperation, ValueError):
        raise ApiError(error) from None


def page_limit(value: Any, default: int, maximum: int) -> int:
    try:
        limit = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise ApiError("invalid_limit") from None
    return default if limit <= 0 else min(limit, maximum)


def encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def decode_cursor(cursor: Any) -> int | None:
    if cursor in (None, ""):
        return None
    try:
        prefix, _, digits = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if prefix != "next_ts" or not digits.isdigit():
            raise ValueError(cursor)
        return int(digits)
    except ValueError:
        raise ApiError("invalid_cursor") from None
