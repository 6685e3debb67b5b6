"""Runs enrichment in the background: new incidents as they open, and any left pending.

Intake never waits for enrichment: it stores the incident, queues the root post and hands the
id here. Enrichment waits for intake instead: each run starts when no webhook is being stored
(or after ``MAX_YIELD_S``), two at a time, so a storm of new incidents is ingested at full
speed and enriched just behind it.

On start (and every ``RESCAN_S``) incidents still ``pending`` are picked up again, so a restart
or a failed run does not leave an incident without its "what changed" reply.

In a fleet it runs only on the replica leading ``enrich``: an incident opened on another
replica reaches it through ``announce`` (PostgreSQL NOTIFY), which makes it look at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import anyio

from bot.enrich import store
from bot.enrich.runner import Enricher, warm_up
from bot.intake.pressure import IntakePressure
from bot.logs import about
from bot.metrics import Metrics

log = logging.getLogger(__name__)

RESCAN_S = 30.0
# Longest an enrichment waits for intake to go quiet before it starts anyway.
MAX_YIELD_S = 0.5


class EnrichmentWorker:
    def __init__(
        self,
        enricher: Enricher,
        on_saved: Callable[[], None],
        *,
        concurrency: int = 2,
        metrics: Metrics | None = None,
        pressure: IntakePressure | None = None,
    ) -> None:
        self.enricher = enricher
        self.on_saved = on_saved
        self.metrics = metrics
        self.pressure = pressure
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._in_flight: set[int] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._look = asyncio.Event()
        self.announce: Callable[[], None] | None = None  # tells the fleet's enricher, if elsewhere

    def submit(self, incident_id: int) -> None:
        """A new incident was stored (from the event loop): enrich it here when this process
        enriches, else tell the replica that does."""
        if self._loop is not None:
            self._queue.put_nowait(incident_id)
        elif self.announce is not None:
            self.announce()

    def announce_work(self) -> None:
        """Incidents were committed waiting for enrichment (any thread): look here, and tell
        the replica that enriches if it is another."""
        self.poke()
        if self.announce is not None:
            self.announce()

    def poke(self) -> None:
        """Look for incidents waiting for enrichment now (any thread)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._look.set)

    async def run(self, stop: asyncio.Event) -> None:
        await anyio.to_thread.run_sync(warm_up)
        self._loop = asyncio.get_running_loop()
        self._look = asyncio.Event()
        rescan = asyncio.create_task(self._rescan(stop))
        try:
            while not stop.is_set():
                getter = asyncio.create_task(self._queue.get())
                stopper = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if getter not in done:
                    getter.cancel()
                    break
                incident_id = getter.result()
                if incident_id in self._in_flight:
                    continue
                self._in_flight.add(incident_id)
                await self._slots.acquire()
                if self.pressure is not None:
                    # Webhooks first: Alertmanager waits for their answer, nobody waits on
                    # this incident's enrichment for a few hundred milliseconds more.
                    await self.pressure.quiet(MAX_YIELD_S)
                task = asyncio.create_task(self._one(incident_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            self._loop = None
            rescan.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rescan
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5)

    async def _one(self, incident_id: int) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with about(incident_id=incident_id):
                outcome = await self.enricher.enrich(incident_id, offered=self.on_saved)
            if outcome is not None:
                self.on_saved()
                if self.metrics:
                    self.metrics.enrichment_seconds.observe(loop.time() - started)
                    for r in outcome.results.values():
                        self.metrics.enrichment_source.labels(r.source, r.status).inc()
                        self.metrics.enrichment_source_seconds.labels(r.source).observe(
                            r.duration_ms / 1000
                        )
        except Exception:
            log.exception("enrichment of incident %s failed; it will be retried", incident_id)
        finally:
            self._in_flight.discard(incident_id)
            self._slots.release()

    async def _rescan(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                ids = await anyio.to_thread.run_sync(store.pending, self.enricher.engine)
            except Exception:
                log.exception("could not list incidents waiting for enrichment")
                ids = []
            for incident_id in ids:
                if incident_id not in self._in_flight:
                    self._queue.put_nowait(incident_id)
            self._look.clear()
            waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(self._look.wait())}
            await asyncio.wait(waiters, timeout=RESCAN_S, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
