"""Runs a background loop only while this replica leads its kind of work.

    wait to lead ──> body(term) runs ──term set: stop asked, or leadership lost──> wait again

``body`` is any loop shaped ``async def run(stop: asyncio.Event)`` that returns soon after
``stop`` is set (the outbox sender, enrichment, the job tracker, the summary worker, run
takeover). It is started afresh each time leadership is won, so what it does on start
(the outbox settling rows left ``sending``) is done by every new leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.fleet.coordinator import Coordinator

log = logging.getLogger(__name__)

WATCH_S = 0.1  # how often leadership is checked (an in-memory flag)
AFTER_CRASH_S = 1.0


async def _until(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _watch(coord: Coordinator, kind: str, stop: asyncio.Event, term: asyncio.Event) -> None:
    while not stop.is_set() and coord.leads(kind):
        await _until(stop, WATCH_S)
    term.set()


async def while_leading(
    coord: Coordinator,
    kind: str,
    body: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
) -> None:
    """Run ``body`` whenever this replica leads ``kind``, until ``stop``; then hand it over."""
    coord.want(kind)
    try:
        while not stop.is_set():
            if not coord.leads(kind):
                await _until(stop, WATCH_S)
                continue
            term = asyncio.Event()
            watcher = asyncio.create_task(_watch(coord, kind, stop, term))
            try:
                await body(term)
            except Exception:
                log.exception("fleet: the %s loop crashed; starting it again", kind)
                await _until(stop, AFTER_CRASH_S)
            finally:
                term.set()
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if not stop.is_set() and not coord.leads(kind):
                log.warning("fleet: %s no longer leads %s; stopped it here", coord.replica, kind)
    finally:
        coord.release(kind)
