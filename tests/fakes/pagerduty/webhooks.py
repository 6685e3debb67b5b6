"""The PagerDuty fake's outgoing v3 webhooks: built, signed and POSTed from the fake's loop.

``WebhookSender.emit`` may be called from any thread (the fake calls it under its lock); the
POSTs run on the fake's event loop, one at a time and in order, once each (no retries), and
``deliveries()`` reports each: event_type, incident_id, status (None: no answer), error, body.
Signed as PagerDuty signs: ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from tests.fakes.pagerduty.model import Json, iso


@dataclass
class _Hook:
    url: str
    secret: str


class WebhookSender:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._hook: _Hook | None = None
        self._deliveries: list[Json] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: aiohttp.ClientSession | None = None
        self._sending: asyncio.Lock | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._sending = asyncio.Lock()

    async def stop(self) -> None:
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._loop = None

    def to(self, url: str, secret: str) -> None:
        with self._lock:
            self._hook = _Hook(url, secret)

    def deliveries(self) -> list[Json]:
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def emit(self, event_type: str, incident_id: str, agent: Json | None, data: Json) -> None:
        """Queue one event (nothing happens until ``to()`` named a URL)."""
        hook, loop = self._hook, self._loop
        if hook is None or loop is None:
            return
        event = {
            "event": {
                "id": uuid.uuid4().hex[:26].upper(),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": iso(datetime.now(UTC)),
                "agent": agent,
                "client": None,
                "data": data,
            }
        }
        body = json.dumps(event).encode()

        def schedule() -> None:
            task = loop.create_task(self._deliver(hook, event_type, incident_id, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_soon_threadsafe(schedule)

    async def _deliver(self, hook: _Hook, event_type: str, incident_id: str, body: bytes) -> None:
        signature = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PagerDuty-Webhook/V3.0",
            "X-PagerDuty-Signature": f"v1={signature}",
            "X-Webhook-Id": uuid.uuid4().hex,
            "X-Webhook-Subscription": "PSUBOPSBOT",
        }
        delivery: Json = {
            "event_type": event_type,
            "incident_id": incident_id,
            "status": None,
            "error": None,
            "body": json.loads(body),
        }
        assert self._http is not None
        assert self._sending is not None
        async with self._sending:
            try:
                async with self._http.post(hook.url, data=body, headers=headers) as response:
                    delivery["status"] = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                delivery["error"] = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._deliveries.append(delivery)
