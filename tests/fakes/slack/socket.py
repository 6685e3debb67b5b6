"""The Socket Mode half of the Slack emulator: a ``websockets`` server playing wss-primary.

Protocol (what ``slack_sdk.socket_mode`` clients expect from real Slack):

* the client gets the URL from ``apps.connections.open`` and opens a websocket to it;
* the server speaks first with ``{"type": "hello", "num_connections": N, ...}``;
* the server sends envelopes ``{"envelope_id", "type", "payload", "accepts_response_payload"}``;
* the client acks each with ``{"envelope_id": ..., "payload"?: ...}`` on the same socket;
* the server may send ``{"type": "disconnect", "reason": ...}`` to ask for a reconnect;
* websocket pings from the client (``sdk-ping-pong:<t>``) are answered with pongs.

Everything here runs on the emulator's event loop; ``SlackEmulator`` wraps it for test threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from contextlib import AbstractContextManager
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

APP_ID = "A0TEST"
LINK_PATH = "/link"


class SocketModeServer:
    def __init__(self, lock: AbstractContextManager[Any]) -> None:
        self._lock = lock  # the emulator's state lock: guards the lists read by test threads
        self._server: Server | None = None
        self._connections: list[ServerConnection] = []  # hello sent, still open; newest last
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._received: list[dict[str, Any]] = []
        self._connects = 0
        self.url = ""

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_path,
            close_timeout=1,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}{LINK_PATH}"

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()  # closes open connections with 1001 (going away)
        await self._server.wait_closed()
        self._server = None
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()

    # -- state read by test threads (under the emulator's lock) ------------------------------

    def client_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def connect_count(self) -> int:
        with self._lock:
            return self._connects

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._received]

    # -- server side -------------------------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0].rstrip("/") != LINK_PATH:
            return connection.respond(404, "no socket mode endpoint here\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        with self._lock:
            num = len(self._connections) + 1
        hello = {
            "type": "hello",
            "num_connections": num,
            "debug_info": {"host": "emulator", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        try:
            await conn.send(json.dumps(hello))
        except ConnectionClosed:
            return
        with self._lock:
            self._connections.append(conn)
            self._connects += 1
        try:
            async for raw in conn:
                self._on_client_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)

    def _on_client_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = {"_unparsable": raw if isinstance(raw, str) else raw.decode(errors="replace")}
        if not isinstance(message, dict):
            message = {"_not_an_object": message}
        with self._lock:
            self._received.append(message)
        envelope_id = message.get("envelope_id")
        fut = self._pending.get(envelope_id) if isinstance(envelope_id, str) else None
        if fut is not None and not fut.done():
            fut.set_result(message)

    async def _newest_client(self, deadline: float) -> ServerConnection:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._connections:
                    return self._connections[-1]
            if loop.time() >= deadline:
                raise TimeoutError("no socket-mode client is connected to the Slack emulator")
            await asyncio.sleep(0.02)

    async def push(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        timeout: float,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one envelope to the newest client and wait for its ack (the ack is returned)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = await self._newest_client(deadline)
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope.update({"retry_attempt": 0, "retry_reason": ""})
        envelope.update(extra or {})
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[envelope_id] = fut
        try:
            await conn.send(json.dumps(envelope))
            remaining = max(0.0, deadline - loop.time())
            try:
                return await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                raise TimeoutError(
                    f"no ack for {envelope_type} envelope {envelope_id} within {timeout}s "
                    "(if the socket-mode client runs on the test's own event loop, use "
                    "apush_envelope instead of the blocking push_envelope)"
                ) from None
        finally:
            self._pending.pop(envelope_id, None)

    async def send_disconnect(self, reason: str) -> int:
        """Ask every client to reconnect, as Slack does before recycling a server."""
        with self._lock:
            conns = list(self._connections)
        message = json.dumps(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "emulator"}}
        )
        for conn in conns:
            with contextlib.suppress(ConnectionClosed):
                await conn.send(message)
        return len(conns)
