"""The warm-up: the chart's libraries load in a worker thread, ``OPSBOT_WARM_UP_S`` after start,
only where this replica can draw a chart (Prometheus configured, leading ``enrich``)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

import pytest

from bot.clients.prometheus import PromClient
from bot.clients.set import Clients
from bot.config import Settings
from bot.enrich import chart
from bot.runtime import Runtime
from bot.wiring.warm_up import warm_up

PROMETHEUS = "http://127.0.0.1:9"  # never queried here


@dataclass
class Fleet:
    """Leads ``enrich`` once ``leads_after_s`` have passed."""

    leads_after_s: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def leads(self, kind: str) -> bool:
        return kind == "enrich" and time.monotonic() - self.started >= self.leads_after_s


@dataclass
class Loads:
    """``chart.load`` calls: when (after the warm-up began) and on which thread."""

    began: float = field(default_factory=time.monotonic)
    calls: list[tuple[float, threading.Thread]] = field(default_factory=list)

    def __call__(self) -> None:
        self.calls.append((time.monotonic() - self.began, threading.current_thread()))


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Loads:
    recorder = Loads()
    monkeypatch.setattr(chart, "load", recorder)
    return recorder


def runtime(*, warm_up_s: float, prometheus: bool = True, fleet: Fleet | None = None) -> Runtime:
    prom = PromClient(PROMETHEUS) if prometheus else None
    settings = Settings(database_url="sqlite://", warm_up_s=warm_up_s)
    parts = SimpleNamespace(settings=settings, clients=Clients(prom=prom), fleet=fleet or Fleet())
    return cast(Runtime, parts)


async def test_with_prometheus_the_chart_libraries_load_after_the_delay_off_the_loop(
    loads: Loads,
) -> None:
    await asyncio.wait_for(warm_up(runtime(warm_up_s=0.2), asyncio.Event()), timeout=5)
    [(after_s, thread)] = loads.calls
    assert after_s >= 0.2
    assert thread is not threading.main_thread()  # a worker thread, not the event loop's


async def test_without_prometheus_there_is_no_chart_and_nothing_loads(loads: Loads) -> None:
    await asyncio.wait_for(warm_up(runtime(warm_up_s=0.01, prometheus=False), asyncio.Event()), 1)
    assert loads.calls == []


async def test_zero_turns_it_off(loads: Loads) -> None:
    await asyncio.wait_for(warm_up(runtime(warm_up_s=0), asyncio.Event()), timeout=1)
    assert loads.calls == []


async def test_a_replica_that_does_not_lead_enrich_loads_once_it_does(loads: Loads) -> None:
    rt = runtime(warm_up_s=0.1, fleet=Fleet(leads_after_s=0.35))
    await asyncio.wait_for(warm_up(rt, asyncio.Event()), timeout=5)
    [(after_s, _)] = loads.calls
    assert after_s >= 0.35


async def test_stop_ends_the_wait_and_nothing_loads(loads: Loads) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(warm_up(runtime(warm_up_s=30), stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=1)
    assert loads.calls == []


async def test_a_failed_load_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ImportError("no matplotlib here")

    monkeypatch.setattr(chart, "load", broken)
    await asyncio.wait_for(warm_up(runtime(warm_up_s=0.01), asyncio.Event()), timeout=5)
    assert "warm-up failed" in caplog.text


def test_load_imports_what_rendering_uses() -> None:
    chart.load()
    assert all(name in sys.modules for name in chart.RENDERING_MODULES)
