"""The job tracker's lag (``opsbot_job_tracker_lag_seconds``): seconds since its last finished
pass, counted from when it began to follow; a pass that fails does not count as one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.jobs.tracker import JobTracker

T0 = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


class Ledger:
    """No active jobs; ``active()`` raises while ``broken`` (the database went away)."""

    def __init__(self) -> None:
        self.broken = False
        self.passes = 0

    def active(self) -> list[Any]:
        self.passes += 1
        if self.broken:
            raise RuntimeError("database unavailable")
        return []


async def test_lag_counts_from_the_last_pass_that_finished() -> None:
    now = [T0]
    ledger = Ledger()
    tracker = JobTracker(ledger, ray=None, clock=lambda: now[0], poll_s=0.01)  # type: ignore[arg-type]
    assert tracker.lag_s() is None  # never followed here: no lag to report

    stop = asyncio.Event()
    task = asyncio.create_task(tracker.run(stop))
    try:
        await wait_for_passes(ledger, 2)
        now[0] = T0 + timedelta(seconds=5)
        await wait_for_passes(ledger, ledger.passes + 2)
        assert tracker.lag_s() == 0  # a pass finished at T0 + 5 s

        ledger.broken = True
        await wait_for_passes(ledger, ledger.passes + 2)
        now[0] = T0 + timedelta(seconds=47)
        assert tracker.lag_s() == 42  # failing passes: the lag grows
    finally:
        stop.set()
        await task


async def wait_for_passes(ledger: Ledger, passes: int) -> None:
    async with asyncio.timeout(5):
        while ledger.passes < passes:
            await asyncio.sleep(0.01)
