"""The bounded read behind each scrape, and ``opsbot_ready``.

A scrape never waits on the database longer than ``timeout_s``: the read runs in a thread of its
own that the scrape stops waiting for at its deadline (PostgreSQL also cancels the statement at
that deadline). Only one read is in flight at a time, so a hung database holds one thread, and
the scrapes meanwhile count ``busy`` instead of piling up.

``opsbot_ready`` is 1 where ``/readyz`` would answer 200: the replica is not draining and the
database answered in time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine

from bot.metrics import Metrics
from bot.store.types import utcnow
from bot.telemetry.collector import WorkStateCollector
from bot.telemetry.work_state import WorkState, read_work_state

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 2.0  # well inside Prometheus's default scrape_timeout (10 s)


class StateReader:
    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        job_tracker_lag: Callable[[], float | None],
        *,
        timeout_s: float = READ_TIMEOUT_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.clock = clock
        self.collector = WorkStateCollector(job_tracker_lag)
        metrics.registry.register(self.collector)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsbot-state-read")
        self._pending: Future[WorkState] | None = None

    async def refresh(self, *, draining: bool) -> WorkState | None:
        """Read the state for this scrape (None when the read failed, timed out or is still
        busy from an earlier scrape), and set ``opsbot_ready``."""
        state = await self._read()
        self.collector.state = state
        self.metrics.ready.set(1 if state is not None and not draining else 0)
        return state

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _read(self) -> WorkState | None:
        if self._pending is not None and not self._pending.done():
            self.metrics.state_reads.labels("busy").inc()
            return None
        timeout_ms = int(self.timeout_s * 1000)
        self._pending = self._pool.submit(read_work_state, self.engine, self.clock(), timeout_ms)
        outcome = "error"
        try:
            state = await asyncio.wait_for(asyncio.wrap_future(self._pending), self.timeout_s)
            outcome = "ok"
            return state
        except TimeoutError:
            outcome = "timeout"
            return None
        except Exception as exc:  # a scrape never fails on the database
            log.warning("metrics: the state read failed (%s): %s", type(exc).__name__, exc)
            return None
        finally:
            self.metrics.state_reads.labels(outcome).inc()
