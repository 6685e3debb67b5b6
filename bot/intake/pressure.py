"""How busy intake is right now, so background work (enrichment) lets webhooks go first.

A webhook is answered only once it is committed, and Alertmanager waits for that answer; an
enrichment can wait a moment. Intake counts its transactions in flight; the enrichment worker
waits for a moment with none (at most ``max_wait``, so a steady stream cannot starve it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class IntakePressure:
    def __init__(self) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around one webhook's transaction (on the event loop)."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def quiet(self, max_wait: float) -> bool:
        """Wait until no webhook is in flight, or ``max_wait`` seconds; True if it got quiet."""
        if self._in_flight == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), max_wait)
        except TimeoutError:
            return False
        return True
