"""The load generator: HTTP senders (closed and open loop) and the latencies they record."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from stormlib.common import AM_TOKEN, MAX_REQUEST_S, log
from stormlib.payloads import Delivery


@dataclass
class PhaseResult:
    name: str
    deliveries: int = 0
    alerts: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    alerts_new: int = 0
    alerts_deduplicated: int = 0
    incidents_opened: int = 0
    duplicate_deliveries: int = 0
    max_schedule_lag_ms: float = 0.0
    target_rate: float = 0.0  # deliveries/s; 0 = closed loop, as fast as possible

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        secs = self.seconds or float("nan")
        return {
            "deliveries": self.deliveries,
            "alerts": self.alerts,
            "seconds": round(self.seconds, 3),
            "alerts_per_s": round(self.alerts / secs, 1),
            "deliveries_per_s": round(self.deliveries / secs, 1),
            "target_deliveries_per_s": self.target_rate,
            "ack_ms": {
                "p50": round(self.pct(0.50), 2),
                "p95": round(self.pct(0.95), 2),
                "p99": round(self.pct(0.99), 2),
                "max": round(max(self.latencies_ms, default=float("nan")), 2),
                "mean": round(
                    sum(self.latencies_ms) / len(self.latencies_ms)
                    if self.latencies_ms
                    else float("nan"),
                    2,
                ),
            },
            "errors": self.error_count,
            "errors_by_kind": dict(self.errors),
            "bot_said": {
                "alerts_new": self.alerts_new,
                "alerts_deduplicated": self.alerts_deduplicated,
                "duplicate_deliveries": self.duplicate_deliveries,
                "incidents_opened": self.incidents_opened,
            },
            "max_schedule_lag_ms": round(self.max_schedule_lag_ms, 2),
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def make_client(url: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
        timeout=httpx.Timeout(MAX_REQUEST_S),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def post_one(client: httpx.AsyncClient, d: Delivery, result: PhaseResult) -> None:
    started = time.perf_counter()
    try:
        response = await client.post("/webhooks/alertmanager", content=d.body)
    except httpx.HTTPError as exc:
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.errors[type(exc).__name__] += 1
        return
    result.latencies_ms.append((time.perf_counter() - started) * 1000)
    result.deliveries += 1
    result.alerts += d.alerts
    if response.status_code != 200:
        result.errors[f"HTTP {response.status_code}"] += 1
        if sum(result.errors.values()) <= 5:
            log(f"  {result.name}: HTTP {response.status_code}: {response.text[:300]}")
        return
    try:
        data = response.json()
        result.alerts_new += int(data["alerts"]["new"])
        result.alerts_deduplicated += int(data["alerts"]["deduplicated"])
        result.incidents_opened += len(data["incidents"]["opened"])
        result.duplicate_deliveries += bool(data.get("duplicate"))
    except (ValueError, KeyError, TypeError):
        result.errors["bad 200 body"] += 1


async def progress_while(
    result: PhaseResult, total: int, started: float, stop: asyncio.Event, every: float
) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        elapsed = time.perf_counter() - started
        log(
            f"  {result.name}: {result.deliveries}/{total} deliveries, {result.alerts} alerts, "
            f"{result.alerts / elapsed:.0f} alerts/s, errors {result.error_count}"
        )


async def send_closed_loop(
    name: str, url: str, deliveries: list[Delivery], concurrency: int, limit_s: float
) -> PhaseResult:
    """``concurrency`` workers, one keep-alive connection each, each sending its next delivery
    as soon as the previous one was answered."""
    result = PhaseResult(name)
    cursor = iter(range(len(deliveries)))
    clients = [make_client(url, 1) for _ in range(concurrency)]

    async def worker(client: httpx.AsyncClient) -> None:
        for i in cursor:  # shared iterator: each index is taken by exactly one worker
            await post_one(client, deliveries[i], result)

    stop = asyncio.Event()
    started = time.perf_counter()
    progress = asyncio.create_task(progress_while(result, len(deliveries), started, stop, 5.0))
    try:
        async with asyncio.timeout(limit_s):
            await asyncio.gather(*(worker(c) for c in clients))
    except TimeoutError:
        result.errors["phase timeout"] += 1
        log(f"  {name}: gave up after {limit_s:.0f}s")
    finally:
        result.seconds = time.perf_counter() - started
        stop.set()
        await progress
        await asyncio.gather(*(c.aclose() for c in clients))
    return result


async def send_open_loop(
    name: str,
    url: str,
    deliveries: list[Delivery],
    rate: float,
    connections: int,
    limit_s: float,
) -> PhaseResult:
    """Delivery ``i`` leaves at ``t0 + i / rate`` whatever happened to the ones before it, so a
    slow answer shows in the latencies instead of quietly lowering the offered rate."""
    result = PhaseResult(name, target_rate=rate)
    client = make_client(url, connections)
    tasks: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    started = time.perf_counter()
    progress = asyncio.create_task(progress_while(result, len(deliveries), started, stop, 5.0))
    try:
        async with asyncio.timeout(limit_s):
            for i, d in enumerate(deliveries):
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                result.max_schedule_lag_ms = max(
                    result.max_schedule_lag_ms, (time.perf_counter() - due) * 1000
                )
                tasks.append(asyncio.create_task(post_one(client, d, result)))
            await asyncio.gather(*tasks)
    except TimeoutError:
        result.errors["phase timeout"] += 1
        log(f"  {name}: gave up after {limit_s:.0f}s")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        result.seconds = time.perf_counter() - started
        stop.set()
        await progress
        await client.aclose()
    return result
