"""A fake's HTTP server: an aiohttp ``web.Application`` on 127.0.0.1, in a daemon thread.

    class MyFake(ThreadedServer):
        def _app(self) -> web.Application: ...

    with MyFake() as fake:        # start(): a free port, the app served, ``fake.url`` set
        httpx.get(fake.url)
                                  # stop(): the app cleaned up, the loop stopped and closed

The server runs on an event loop of its own in a daemon thread, so a synchronous test, an async
test (with a loop of its own running) and the bot's threads can all talk to it. Hooks, each
optional but ``_app``: ``_prepare()`` before the loop starts (certificates), ``_ssl_context()``
for HTTPS, ``_on_start()`` / ``_on_stop()`` on the server's loop (a websocket server, a sender),
``_cleanup()`` after the loop is closed. ``_stopping`` is set when stopping begins, so a handler
that waits (an injected delay) ends at once.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterable
from typing import Any, Self

from aiohttp import web

from tests.support.lifecycle import StartStop

__all__ = ["ThreadedServer", "drain"]

START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 15


async def drain(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Wait for ``tasks`` to end, whatever each ends with."""
    await asyncio.gather(*tasks, return_exceptions=True)


class ThreadedServer(StartStop):
    """``start()`` / ``stop()`` / ``url`` / ``with`` for a fake built on an aiohttp app."""

    _thread_name = "fake-server"  # the close thread is "<name>-close"
    _handler_cancellation = False  # True: a client hanging up cancels its handler

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._url = ""

    # -- hooks ------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        raise TypeError(f"{type(self).__name__} must define _app()")

    def _prepare(self) -> None:
        """Before the loop starts."""

    def _ssl_context(self) -> ssl.SSLContext | None:
        return None

    async def _on_start(self) -> None:
        """On the server's loop, once the app is served and ``url`` is set."""

    async def _on_stop(self) -> None:
        """On the server's loop, before the app is cleaned up."""

    def _cleanup(self) -> None:
        """After the loop is closed (also after a failed start)."""

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._loop is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._prepare()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=self._thread_name, daemon=True
        )
        self._thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(self._astart(), self._loop)
            future.result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    async def _astart(self) -> None:
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(
            self._app(),
            access_log=None,
            shutdown_timeout=1.0,
            handler_cancellation=self._handler_cancellation,
        )
        await self._runner.setup()
        tls = self._ssl_context()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        scheme = "https" if tls is not None else "http"
        self._url = f"{scheme}://127.0.0.1:{self._runner.addresses[0][1]}"
        await self._on_start()

    async def _astop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        await self._on_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            try:
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(self._astop(), loop).result(STOP_TIMEOUT_S)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(10)
                # In a thread of its own: the caller may be an async test with a loop running.
                closer = threading.Thread(
                    target=_close_loop, args=(loop,), name=f"{self._thread_name}-close"
                )
                closer.start()
                closer.join(STOP_TIMEOUT_S)
        self._loop = self._thread = None
        self._cleanup()

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._url


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    leftover = asyncio.all_tasks(loop)
    for task in leftover:
        task.cancel()
    if leftover:
        loop.run_until_complete(drain(leftover))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
