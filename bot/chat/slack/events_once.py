"""Each Slack Events API event is handled once, however often Slack sends it, on any replica.

Slack resends an event it thinks was not acknowledged in time (``X-Slack-Retry-Num``,
``X-Slack-Retry-Reason``), and a resend may reach another replica. How once is kept: the first
delivery of an ``event_id`` inserts a ``delivery`` row (source ``slack_event``, the event_id as
``dedupe_key``); the unique (source, dedupe_key) refuses every later insert, in the database all
replicas share, and that delivery is acknowledged and dropped before any listener sees it.

Interactions (button clicks) are once-only by their own tokens, and slash commands carry no id:
both pass through untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from bot.metrics import Metrics
from bot.store.engine import session_scope
from bot.store.models import Delivery

log = logging.getLogger(__name__)

SOURCE = "slack_event"

Middleware = Callable[..., Awaitable[BoltResponse | None]]


def claim_event(engine: Engine, event_id: str, record: dict[str, Any]) -> bool:
    """True for the first delivery of ``event_id`` (the caller handles it), False after."""
    try:
        with session_scope(engine) as session:
            session.add(Delivery(source=SOURCE, dedupe_key=event_id[:128], body=json.dumps(record)))
    except IntegrityError:
        return False
    return True


def _header(req: AsyncBoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if values else None


def events_once(engine: Engine, metrics: Metrics) -> Middleware:
    """A Bolt global middleware: an event_callback whose event_id was seen is acked, unhandled."""

    async def once(
        req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not isinstance(event_id, str) or not event_id:
            await next()
            return None
        # What was delivered, not what it said: the event's text stays out of the inbox.
        record = {
            "type": (body.get("event") or {}).get("type"),
            "retry_num": _header(req, "x-slack-retry-num"),
            "retry_reason": _header(req, "x-slack-retry-reason"),
        }
        if await anyio.to_thread.run_sync(claim_event, engine, event_id, record):
            await next()
            return None
        metrics.slack_events_deduplicated.inc()
        log.info(
            "slack event %s already handled; retry %s (%s) dropped",
            event_id,
            record["retry_num"],
            record["retry_reason"],
        )
        return BoltResponse(status=200, body="")

    return once
