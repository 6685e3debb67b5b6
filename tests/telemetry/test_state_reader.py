"""A database that does not answer costs a scrape at most the read's timeout, counted, with the
database gauges left out of that scrape rather than stale; one read at a time is in flight."""

from __future__ import annotations

import asyncio
import time

import psycopg
from prometheus_client import generate_latest

from bot.metrics import Metrics
from bot.store.engine import make_engine
from bot.telemetry.reader import StateReader
from tests.integration.promstack import metric_value


def scraped(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metric_value(generate_latest(metrics.registry).decode(), name, **labels)


async def test_a_locked_database_costs_a_scrape_its_timeout_and_no_more(
    postgres_url: str,
) -> None:
    metrics = Metrics()
    engine = make_engine(postgres_url)
    reader = StateReader(engine, metrics, lambda: 12.5, timeout_s=0.5)
    try:
        assert await reader.refresh(draining=False) is not None
        with psycopg.connect(postgres_url) as locker:
            # Nothing can read the outbox while this transaction holds it.
            locker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            # A second scrape arrives while the first read waits on the lock: it does not
            # start another read. (Started together: after the first's deadline, PostgreSQL
            # has cancelled the statement at that same deadline and a read may start again.)
            first, second = await asyncio.gather(
                reader.refresh(draining=False), reader.refresh(draining=False)
            )
            assert (first, second) == (None, None)
            assert time.monotonic() - started < 1.0
            assert scraped(metrics, "opsbot_ready") == 0
            assert scraped(metrics, "opsbot_state_reads_total", outcome="timeout") == 1
            assert scraped(metrics, "opsbot_state_reads_total", outcome="busy") == 1
            assert scraped(metrics, "opsbot_outbox_oldest_age_seconds") is None
            assert scraped(metrics, "opsbot_job_tracker_lag_seconds") == 12.5
        # PostgreSQL cancelled the statement at the same deadline: the next reads succeed.
        deadline = time.monotonic() + 5
        while await reader.refresh(draining=False) is None:
            assert time.monotonic() < deadline, generate_latest(metrics.registry).decode()
        assert scraped(metrics, "opsbot_ready") == 1
        assert scraped(metrics, "opsbot_outbox_oldest_age_seconds") == 0
    finally:
        reader.close()
        engine.dispose()
