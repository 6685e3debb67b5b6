"""The enrichment worker: new incidents are enriched without anyone asking, incidents left
pending by a stopped bot are picked up on start, and a failed run is retried, not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from bot.enrich import worker as worker_module
from bot.enrich.outcome import Outcome
from bot.enrich.runner import Enricher
from bot.enrich.worker import EnrichmentWorker
from bot.intake.pressure import IntakePressure
from bot.store.models import EnrichmentStatus, Incident
from tests.enrich.conftest import FRAUD_CHANNEL, ago, running_bot
from tests.fakes.slack.api import SlackEmulator

Wake = Callable[[], None]


async def run_until(worker: EnrichmentWorker, done: Callable[[], bool], limit: float = 10) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    try:
        while not done():
            assert loop.time() < deadline, "worker did not finish in time"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def state_of(engine: Any, incident_id: int) -> str | None:
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident.enrichment_state


async def test_submitted_and_left_pending_incidents_are_enriched_once(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_bot(sqlite_url, tmp_path, slack, prometheus_url=None) as bot:
        left_over = await bot.alert(ago(minutes=3), service="fraud-scorer")
        fresh = await bot.alert(ago(seconds=5), service="fraud-scorer")
        # A new process: its worker finds ``left_over`` pending in the database by itself,
        # and gets ``fresh`` from intake (both are submitted below, as intake and a rescan do).
        enricher = bot.rt.enrichment.enricher
        runs: list[int] = []
        original = enricher.enrich

        async def counted(incident_id: int, offered: Wake | None = None) -> Outcome | None:
            outcome = await original(incident_id, offered)
            if outcome is not None:
                runs.append(incident_id)
            return outcome

        enricher.enrich = counted  # type: ignore[method-assign]
        woken: list[bool] = []
        worker = EnrichmentWorker(enricher, lambda: woken.append(True))
        worker.submit(fresh)
        worker.submit(fresh)  # a duplicate submit: still one enrichment
        await run_until(
            worker,
            lambda: all(
                state_of(bot.rt.engine, i) == EnrichmentStatus.DONE for i in (left_over, fresh)
            ),
        )
        assert sorted(runs) == sorted([left_over, fresh])
        assert woken  # the outbox sender was told there is something to send
        await bot.rt.sender.drain()
        roots = slack.roots(FRAUD_CHANNEL)
        assert len(roots) == 2
        for root in roots:
            replies = slack.replies(FRAUD_CHANNEL, root["ts"])
            assert sum("Suspects" in str(r["blocks"]) for r in replies) == 1


async def test_a_failed_run_stays_pending_and_is_retried(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "RESCAN_S", 0.1)
    async with running_bot(sqlite_url, tmp_path, slack, prometheus_url=None) as bot:
        incident_id = await bot.alert(ago(seconds=5), service="fraud-scorer")
        enricher: Enricher = bot.rt.enrichment.enricher
        original = enricher.enrich
        attempts: list[int] = []

        async def flaky(i: int, offered: Wake | None = None) -> Outcome | None:
            attempts.append(i)
            if len(attempts) == 1:
                raise RuntimeError("database went away")
            return await original(i, offered)

        enricher.enrich = flaky  # type: ignore[method-assign]
        worker = EnrichmentWorker(enricher, lambda: None)
        worker.submit(incident_id)
        await run_until(
            worker, lambda: state_of(bot.rt.engine, incident_id) == EnrichmentStatus.DONE
        )
        assert len(attempts) >= 2
        assert attempts[0] == incident_id


async def test_enrichment_waits_for_intake_to_go_quiet_but_not_forever(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "MAX_YIELD_S", 0.3)
    async with running_bot(sqlite_url, tmp_path, slack, prometheus_url=None) as bot:
        first = await bot.alert(ago(seconds=5), service="fraud-scorer")
        pressure = IntakePressure()
        worker = EnrichmentWorker(bot.rt.enrichment.enricher, lambda: None, pressure=pressure)
        loop = asyncio.get_running_loop()
        started_at: dict[int, float] = {}
        original = worker.enricher.enrich

        async def timed(i: int, offered: Wake | None = None) -> Outcome | None:
            started_at[i] = loop.time()
            return await original(i, offered)

        worker.enricher.enrich = timed  # type: ignore[method-assign]

        async def until_started(i: int) -> None:
            for _ in range(200):
                if i in started_at:
                    return
                await asyncio.sleep(0.025)
            raise AssertionError(f"enrichment of {i} never started")

        stop = asyncio.Event()
        with pressure.busy():  # a webhook being stored
            worker.submit(first)
            task = asyncio.create_task(worker.run(stop))
            await asyncio.sleep(0.2)
            assert first not in started_at  # it let the webhook go first
            released_at = loop.time()
        await until_started(first)
        assert started_at[first] >= released_at  # ... and went as soon as intake was quiet
        # (opened only now: the worker's start-up rescan would have picked it up already)
        second = await bot.alert(ago(seconds=4), service="payments")
        with pressure.busy():  # a webhook that takes far longer than the enrichment will wait
            submitted_at = loop.time()
            worker.submit(second)
            await until_started(second)
            waited = started_at[second] - submitted_at
            assert 0.3 <= waited < 3.0  # gave up waiting after MAX_YIELD_S, intake still busy
            assert pressure.in_flight == 1
        stop.set()
        await asyncio.wait_for(task, 10)
        assert pressure.in_flight == 0
