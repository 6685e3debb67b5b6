"""What tests do with the Slack emulator's Socket Mode side: push envelopes, wait for clients.

A mixin of ``SlackEmulator``: the ``SocketModeServer`` (``socket.py``) runs on the
emulator's event loop; these methods hand work to that loop from a test thread (blocking) or
from an async test's own loop (awaiting).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.slack.socket import SocketModeServer

Json = dict[str, Any]


class SocketModeControls:
    """The Socket Mode half of ``SlackEmulator`` (which sets ``_socket`` and ``_loop``)."""

    _socket: SocketModeServer
    _loop: asyncio.AbstractEventLoop | None
    wait_for: Callable[[Callable[[], bool], float, str], None]
    await_for: Callable[[Callable[[], bool], float, str], Awaitable[None]]

    def push_envelope(
        self,
        envelope_type: str,
        payload: Json,
        *,
        accepts_response_payload: bool = False,
        timeout: float = 5.0,
    ) -> Json:
        """Send an envelope to the newest socket-mode client and return its ack (blocking)."""
        future = self._push(envelope_type, payload, accepts_response_payload, timeout)
        return future.result(timeout + 5)

    async def apush_envelope(
        self,
        envelope_type: str,
        payload: Json,
        *,
        accepts_response_payload: bool = False,
        timeout: float = 5.0,
    ) -> Json:
        """``push_envelope`` for async tests whose own loop runs the socket-mode client."""
        return await asyncio.wrap_future(
            self._push(envelope_type, payload, accepts_response_payload, timeout)
        )

    def _push(
        self, envelope_type: str, payload: Json, accepts_response_payload: bool, timeout: float
    ) -> concurrent.futures.Future[Json]:
        """Schedule the push on the emulator's loop; the future resolves to the client's ack."""
        coro = self._socket.push(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            timeout=timeout,
        )
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop())

    def wait_for_socket_client(self, timeout: float = 10.0) -> None:
        self.wait_for(lambda: self._socket.client_count() > 0, timeout, "a socket-mode client")

    async def await_for_socket_client(self, timeout: float = 10.0) -> None:
        await self.await_for(
            lambda: self._socket.client_count() > 0, timeout, "a socket-mode client"
        )

    def socket_clients(self) -> int:
        """How many socket-mode clients are connected (hello sent) right now."""
        return self._socket.client_count()

    def socket_messages(self) -> list[Json]:
        """Every message socket-mode clients sent (acks), oldest first."""
        return self._socket.received()

    def disconnect_socket_clients(self, reason: str = "refresh_requested") -> int:
        """Send Slack's ``{"type": "disconnect"}`` to every client; returns how many."""
        coro = self._socket.send_disconnect(reason)
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop()).result(10)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("SlackEmulator not started")
        return self._loop
