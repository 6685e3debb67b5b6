"""What a serving process loads after start, so that a first use does not pay for it.

Heavy libraries load when first needed, never at import: ``opsbot serve`` is ready in about a
second and small while idle (``bench/start.py``; ``tests/test_lazy_imports.py`` keeps it so).
One first use is worth preparing: the incident chart, whose matplotlib and numpy take a second
or more to import (inside the chart's own 3 s deadline) and ~50 MB to hold. So, once:

    start ──OPSBOT_WARM_UP_S (10 s)──> can this replica draw a chart? ──yes──> load them
                                        (Prometheus configured,          in a worker thread
                                         and it leads ``enrich``)
                                              │ no: not yet leading: look again a period later
                                              │ no Prometheus: never (no signals, no chart)

Never before ready, never on the event loop; ``OPSBOT_WARM_UP_S=0`` turns it off (the first
chart then loads them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import anyio

from bot.enrich import chart
from bot.runtime import Runtime
from bot.wiring import heap

log = logging.getLogger(__name__)


async def warm_up(rt: Runtime, stop: asyncio.Event, settle_heap: bool = False) -> None:
    """Load the chart's libraries ``OPSBOT_WARM_UP_S`` after start where a chart can be drawn;
    return when done, when there is nothing to load, or at ``stop``. ``settle_heap``: then
    take them out of the collector's full passes (``bot.wiring.heap``)."""
    delay = rt.settings.warm_up_s
    if delay <= 0 or rt.clients.prom is None:
        return
    while not await _stopped(stop, delay):
        if not rt.fleet.leads("enrich"):
            continue
        started = time.perf_counter()
        try:
            await anyio.to_thread.run_sync(chart.load, abandon_on_cancel=True)
        except Exception:
            log.exception("warm-up failed: the first chart will load matplotlib itself")
            return
        log.info("warm-up done: the chart's libraries in %.1f s", time.perf_counter() - started)
        if settle_heap:
            await anyio.to_thread.run_sync(heap.settle)
        return


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
