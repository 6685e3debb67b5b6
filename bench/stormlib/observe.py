"""The bot seen from outside: ``/metrics``, the outbox drain, the outbox table, RSS and CPU."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

from stormlib.common import (
    CHANNEL,
    DRAIN_POLL_S,
    DRAIN_STABLE_S,
    PROGRESS_S,
    RSS_INTERVAL_S,
    log,
)

# -- the bot's metrics and outbox -----------------------------------------------------------------

METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


async def read_metrics(client: httpx.AsyncClient) -> dict[str, float] | None:
    """``/metrics`` summed over label sets, by metric name; None if it did not answer."""
    try:
        response = await client.get("/metrics", timeout=10.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    out: dict[str, float] = defaultdict(float)
    for line in response.text.splitlines():
        m = METRIC_LINE.match(line)
        if m:
            with contextlib.suppress(ValueError):
                out[m.group(1)] += float(m.group(3))
    return dict(out)


@dataclass
class DrainResult:
    drained: bool
    seconds: float  # from the end of the last send until the outbox stayed empty
    last_depth: float | None


async def wait_for_drain(url: str, slack: Any, limit_s: float) -> DrainResult:
    started = time.monotonic()
    zero_since: float | None = None
    last_print = started
    depth: float | None = None
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(int(limit_s / DRAIN_POLL_S) + 10):
            now = time.monotonic()
            if now - started > limit_s:
                break
            metrics = await read_metrics(client)
            depth = None if metrics is None else metrics.get("opsbot_outbox_depth")
            now = time.monotonic()
            if depth == 0:
                zero_since = zero_since or now
                if now - zero_since >= DRAIN_STABLE_S:
                    return DrainResult(True, zero_since - started, 0)
            else:
                zero_since = None
            if now - last_print >= PROGRESS_S:
                last_print = now
                messages = slack.messages(CHANNEL)
                roots = sum(1 for m in messages if m["thread_ts"] is None)
                log(
                    f"  drain: {now - started:5.0f}s, outbox depth {depth}, "
                    f"slack: {roots} roots + {len(messages) - roots} replies, "
                    f"{len(slack.calls('chat.update'))} root edits"
                )
            await asyncio.sleep(DRAIN_POLL_S)
    return DrainResult(False, time.monotonic() - started, depth)


def outbox_status(db_url: str) -> dict[str, int] | None:
    """Rows of the bot's outbox by ``kind/status`` (read-only, for the report)."""
    try:
        from sqlalchemy import text

        from bot.store.engine import make_engine

        engine = make_engine(db_url, pool_size=1)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT kind, status, count(*) FROM outbox GROUP BY kind, status")
                ).all()
        finally:
            engine.dispose()
        return {f"{kind}/{status}": int(n) for kind, status, n in rows}
    except Exception as exc:
        log(f"  (could not read the outbox table: {type(exc).__name__}: {exc})")
        return None


# -- the server's memory ------------------------------------------------------------------------


class RssSampler:
    """Peak RSS of a process and its children, sampled every 100 ms in a thread."""

    def __init__(self, pid: int, max_seconds: float) -> None:
        self.pid = pid
        self.max_seconds = max_seconds
        self.peak = 0
        self.first = 0
        self.last = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def sample(self) -> int:
        try:
            proc = psutil.Process(self.pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        except psutil.Error:
            return 0
        return int(total)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            rss = self.sample()
            if rss:
                self.first = self.first or rss
                self.last = rss
                self.peak = max(self.peak, rss)
                self.samples += 1
            self._stop.wait(RSS_INTERVAL_S)


class CpuMeter:
    """CPU used during a phase: by the server process (and its children), by this harness
    (load generator and Slack emulator), and by the whole host (PostgreSQL included)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def _proc_cpu(self, proc: psutil.Process, children: bool) -> float:
        try:
            t = proc.cpu_times()
            total = t.user + t.system
            if children:
                for child in proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        c = child.cpu_times()
                        total += c.user + c.system
        except psutil.Error:
            return float("nan")
        return float(total)

    def snapshot(self) -> tuple[float, float, float, float, float]:
        host = psutil.cpu_times()
        idle = host.idle + getattr(host, "iowait", 0.0)
        return (
            time.monotonic(),
            self._proc_cpu(psutil.Process(self.pid), children=True),
            self._proc_cpu(psutil.Process(), children=False),
            float(sum(host)) - idle,
            float(sum(host)),
        )

    def since(self, before: tuple[float, float, float, float, float]) -> dict[str, float]:
        after = self.snapshot()
        wall = max(after[0] - before[0], 1e-9)
        host_total = max(after[4] - before[4], 1e-9)
        cpus = psutil.cpu_count() or 1
        server = (after[1] - before[1]) / wall
        harness = (after[2] - before[2]) / wall
        busy = (after[3] - before[3]) / host_total
        return {
            "server_cores": round(server, 2),
            "harness_cores": round(harness, 2),
            # everything else: PostgreSQL backends, and whatever else shares this host
            "other_cores": round(max(0.0, busy * cpus - server - harness), 2),
            "host_busy_pct": round(100 * busy, 1),
            "host_cpus": cpus,
        }
