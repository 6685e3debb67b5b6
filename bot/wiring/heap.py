"""Keep the collector's full passes short in a serving process.

Python's cyclic garbage collector now and then walks every object it tracks (a "generation 2"
pass). A serving opsbot holds about 200,000 of them for its whole life (modules, the Kubernetes
and OpenAI clients, SQLAlchemy's compiled statements, matplotlib once loaded), so each such
pass stops every thread for about 100 ms on a fast 2-core host, longer on a slow one: at
random, a click's answer or an alert's offer came 250 ms late (``bench/click_ack.py``).

``settle()`` collects once, then moves everything alive into the permanent generation
(``gc.freeze``), which later passes skip. It runs when ``opsbot serve`` is ready and again once
the chart's libraries are loaded (``bot.wiring.warm_up``). Objects allocated later are collected
as before. Only ``opsbot serve`` does it: an app built in a test process leaves the collector
alone (a frozen object is never finalized, so a leak there would never be reported).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle() -> None:
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "heap settled: %d long-lived objects out of the collector's full passes (%.0f ms)",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )
