"""Alert-storm benchmark: a real ``opsbot serve`` against a real database and the Slack emulator.

    uv run python bench/storm.py                       # 10,000 alerts in 200 groups, SQLite
    uv run python bench/storm.py --db postgres         # the same against PostgreSQL
    uv run python bench/storm.py --quick               # smoke run: 1,000 alerts in 20 groups

Phases:
  1. storm    -- N distinct alerts over G groups, k alerts per Alertmanager delivery, a fraction
                 sent twice (HA peers), posted by ``--concurrency`` keep-alive HTTP/1.1 clients as
                 fast as the bot answers (or paced at ``--rate`` deliveries/s);
  2. latency  -- new groups at a steady ``--latency-rate`` alerts/s for ``--latency-seconds``,
                 open loop (a slow answer does not delay the next send), for ack p50/p99;
  3. drain    -- wait for the bot's outbox to empty (it posts at ~1 msg/s per channel), then
                 read what reached "Slack" (the emulator): roots, replies, lost alerts, rate.

It reports; it does not judge by exit status. Exit 0 whatever the figures, 2 on a harness error
(emulator or bot would not start, database could not be created, ...). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.server import BotProcess  # noqa: E402

CHANNEL = "C0INCIDENT"
AM_TOKEN = "bench-alertmanager-token"
BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "bench-signing-secret"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ZERO_TIME = "0001-01-01T00:00:00Z"
PEER_URLS = ("http://alertmanager-0.alertmanager:9093", "http://alertmanager-1.alertmanager:9093")

MAX_ALERTS = 1_000_000
MAX_REQUEST_S = 30.0
RSS_INTERVAL_S = 0.1
DRAIN_POLL_S = 1.0
DRAIN_STABLE_S = 3.0
PROGRESS_S = 10.0

FULL_DEFAULTS = {"alerts": 10_000, "groups": 200, "latency_seconds": 10.0, "latency_groups": 10}
QUICK_DEFAULTS = {"alerts": 1000, "groups": 20, "latency_seconds": 3.0, "latency_groups": 5}

TARGET_INGEST_ALERTS_S = 1000.0
TARGET_ACK_P99_MS = 50.0
TARGET_RSS_MB = 300.0

# (alertname, what the summary says); a group is one alertname on one service.
ALERT_KINDS = (
    ("ModelLatencyHigh", "p99 inference latency above 500ms"),
    ("PredictionDriftHigh", "prediction drift (PSI) above 0.2"),
    ("FeatureNullRateHigh", "feature null rate above 5%"),
    ("InferenceErrorRateHigh", "inference 5xx rate above 1%"),
    ("GPUMemoryPressure", "GPU memory above 95%"),
    ("ModelThroughputLow", "throughput below 50% of forecast"),
)
SEVERITIES = ("critical", "warning", "warning", "critical", "info")
MODELS = ("ranker", "fraud-scorer", "recsys-two-tower", "churn-xgb", "embedder", "llm-router")
NAMESPACES = ("ml-serving", "ml-batch", "feature-store")


class HarnessError(RuntimeError):
    """The benchmark itself could not run (not: the bot was slow or lost something)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the storm ----------------------------------------------------------------------------------


@dataclass
class Group:
    index: int
    alertname: str
    service: str
    severity: str
    model: str
    namespace: str
    summary: str  # becomes the incident title: how a root message is traced back to its group

    @property
    def key(self) -> str:
        return f'{{}}:{{alertname="{self.alertname}", service="{self.service}"}}'


@dataclass
class Delivery:
    body: bytes
    group: int
    alerts: int
    redelivery: bool = False


@dataclass
class Storm:
    groups: list[Group]
    deliveries: list[Delivery]
    pods: dict[str, int]  # pod label (unique per alert) -> group index
    alerts_per_group: Counter[int]

    @property
    def distinct_alerts(self) -> int:
        return len(self.pods)

    @property
    def alerts_sent(self) -> int:
        return sum(d.alerts for d in self.deliveries)

    @property
    def redeliveries(self) -> int:
        return sum(1 for d in self.deliveries if d.redelivery)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_groups(prefix: str, count: int, offset: int = 0) -> list[Group]:
    width = max(3, len(str(max(count - 1, 0))))
    groups = []
    for g in range(count):
        alertname, what = ALERT_KINDS[g % len(ALERT_KINDS)]
        service = f"{prefix}-{g:0{width}d}"
        groups.append(
            Group(
                index=offset + g,
                alertname=alertname,
                service=service,
                severity=SEVERITIES[g % len(SEVERITIES)],
                model=MODELS[g % len(MODELS)],
                namespace=NAMESPACES[g % len(NAMESPACES)],
                summary=f"{alertname} on {service}: {what}",
            )
        )
    return groups


def make_alert(run_id: str, group: Group, j: int, starts_at: datetime) -> dict[str, Any]:
    fp = hashlib.sha256(f"{run_id}|{group.key}|{j}".encode()).hexdigest()[:16]
    pod = f"{group.model}-{group.service}-{j}-{fp[:6]}"
    return {
        "status": "firing",
        "labels": {
            "alertname": group.alertname,
            "service": group.service,
            "severity": group.severity,
            "model": group.model,
            "model_version": f"v{1 + j % 7}",
            "namespace": group.namespace,
            "pod": pod,
            "instance": f"10.{group.index % 250}.{j // 250 % 250}.{j % 250}:8080",
            "team": "ml-platform",
        },
        "annotations": {
            "summary": group.summary,
            "description": f"{group.model} on {pod}: {group.summary.split(': ', 1)[-1]}",
            "runbook_url": f"https://runbooks.example/ml/{group.alertname}",
        },
        "startsAt": iso(starts_at),
        "endsAt": ZERO_TIME,
        "generatorURL": (
            f"http://prometheus.monitoring:9090/graph?g0.expr={group.alertname}"
            f"%7Bservice%3D%22{group.service}%22%7D&g0.tab=1"
        ),
        "fingerprint": fp,
    }


def make_payload(group: Group, alerts: list[dict[str, Any]], external_url: str) -> dict[str, Any]:
    common_labels = dict(alerts[0]["labels"])
    for a in alerts[1:]:
        common_labels = {k: v for k, v in common_labels.items() if a["labels"].get(k) == v}
    common_annotations = dict(alerts[0]["annotations"])
    for a in alerts[1:]:
        common_annotations = {
            k: v for k, v in common_annotations.items() if a["annotations"].get(k) == v
        }
    return {
        "receiver": "opsbot",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": group.alertname, "service": group.service},
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "version": "4",
        "groupKey": group.key,
        "truncatedAlerts": 0,
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def build_storm(
    *,
    run_id: str,
    groups: list[Group],
    alerts: int,
    per_delivery: int,
    redeliver: float,
    spread: int,
    rng: random.Random,
) -> Storm:
    """``alerts`` distinct alerts round-robin over ``groups``, ``per_delivery`` per delivery.

    Deliveries go out group-interleaved (every group's first batch, then every group's second,
    ...), as a storm that hits many services at once. A ``redeliver`` fraction is sent a second
    time a little later (within ``spread`` positions): half as byte-identical retries (same
    peer), half as the other HA peer's copy (same alerts, other ``externalURL``), which only the
    per-alert (fingerprint, startsAt) dedupe can catch.
    """
    now = datetime.now(UTC)
    by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    pods: dict[str, int] = {}
    per_group: Counter[int] = Counter()
    for i in range(alerts):
        group = groups[i % len(groups)]
        j = len(by_group[group.index])
        alert = make_alert(run_id, group, j, now - timedelta(seconds=rng.uniform(5, 600)))
        pod = alert["labels"]["pod"]
        if pod in pods:
            raise HarnessError(f"pod label collision: {pod}")
        pods[pod] = group.index
        per_group[group.index] += 1
        by_group[group.index].append(alert)

    chunks: dict[int, list[list[dict[str, Any]]]] = {
        g: [items[s : s + per_delivery] for s in range(0, len(items), per_delivery)]
        for g, items in by_group.items()
    }
    index = {g.index: g for g in groups}
    originals: list[tuple[Group, list[dict[str, Any]]]] = []
    rounds = max((len(c) for c in chunks.values()), default=0)
    for r in range(rounds):
        for g in sorted(chunks):
            if r < len(chunks[g]):
                originals.append((index[g], chunks[g][r]))

    keyed: list[tuple[float, Delivery]] = []
    for pos, (group, batch) in enumerate(originals):
        body = encode(make_payload(group, batch, PEER_URLS[0]))
        keyed.append((float(pos), Delivery(body, group.index, len(batch))))
    count = round(redeliver * len(originals))
    for n, pos in enumerate(sorted(rng.sample(range(len(originals)), count))):
        group, batch = originals[pos]
        if n % 2 == 0:
            body = keyed[pos][1].body  # the same peer retrying: byte-identical
        else:
            body = encode(make_payload(group, batch, PEER_URLS[1]))  # the other peer's copy
        later = pos + rng.randint(1, max(1, spread)) + 0.5
        keyed.append((later, Delivery(body, group.index, len(batch), redelivery=True)))
    keyed.sort(key=lambda kv: kv[0])
    return Storm(
        groups=groups,
        deliveries=[d for _, d in keyed],
        pods=pods,
        alerts_per_group=per_group,
    )


# -- sending ------------------------------------------------------------------------------------


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


# -- what reached Slack -------------------------------------------------------------------------

ROOT_TEXT = re.compile(r"^[A-Z]+: #(\d+) (.*) \(severity ")
ALERTS_FIELD = re.compile(r"\*Alerts\*\n(\d+) firing / (\d+) total")
POD_LABEL = re.compile(r"\bpod=([A-Za-z0-9._-]+)")
MORE_LINE = re.compile(r"…and (\d+) more")


def message_texts(m: dict[str, Any]) -> Iterator[str]:
    yield m.get("text") or ""
    for block in m.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            yield str(text.get("text") or "")
        for f in block.get("fields") or []:
            if isinstance(f, dict):
                yield str(f.get("text") or "")
        for el in block.get("elements") or []:
            if isinstance(el, dict) and isinstance(el.get("text"), str):
                yield el["text"]


def analyse_slack(slack: Any, storms: list[Storm], t0: float) -> dict[str, Any]:
    """What reached the channel; ``t0`` is ``time.monotonic()`` when the storm began (the
    emulator runs in this process and stamps posts with the same clock)."""
    groups = {g.index: g for s in storms for g in s.groups}
    by_title = {g.summary: g.index for g in groups.values()}
    pods: dict[str, int] = {}
    expected_per_group: Counter[int] = Counter()
    for s in storms:
        pods.update(s.pods)
        expected_per_group.update(s.alerts_per_group)

    roots = slack.roots(CHANNEL)
    roots_by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    roots_by_incident: Counter[str] = Counter()
    unknown_roots = 0
    for root in roots:
        m = ROOT_TEXT.match(root.get("text") or "")
        if m is None or m.group(2) not in by_title:
            unknown_roots += 1
            continue
        roots_by_incident[m.group(1)] += 1
        roots_by_group[by_title[m.group(2)]].append(root)

    seen: Counter[str] = Counter()
    misrouted = 0
    not_listed = 0  # "…and N more": alerts a reply counted but did not list
    replies_total = 0
    root_count_shortfall = 0
    for g, group_roots in roots_by_group.items():
        best_total = 0
        for root in group_roots:
            for text in message_texts(root):
                fm = ALERTS_FIELD.search(text)
                if fm:
                    best_total = max(best_total, int(fm.group(2)))
            for reply in slack.replies(CHANNEL, root["ts"]):
                replies_total += 1
                for text in message_texts(reply):
                    not_listed += sum(int(n) for n in MORE_LINE.findall(text))
                    for pod in POD_LABEL.findall(text):
                        seen[pod] += 1
                        if pods.get(pod, g) != g:
                            misrouted += 1
        root_count_shortfall += max(0, expected_per_group[g] - best_total)
    # A reply's ``text`` is only a count ("3 alert(s): ..."); alert lines are in its blocks,
    # so a pod seen twice was posted twice.
    lost = [p for p in pods if p not in seen]
    first_root_at = sorted(
        min(float(r["posted_at"]) for r in rs) - t0 for rs in roots_by_group.values()
    )
    missing_groups = [g for g in groups if g not in roots_by_group]
    known_threads = {r["ts"] for rs in roots_by_group.values() for r in rs}
    orphan_replies = sum(
        1
        for m in slack.messages(CHANNEL)
        if m["thread_ts"] is not None and m["thread_ts"] not in known_threads
    )
    return {
        "groups_expected": len(groups),
        "roots": len(roots),
        "groups_with_root": len(roots_by_group),
        "groups_without_root": len(missing_groups),
        "duplicate_roots": sum(len(rs) - 1 for rs in roots_by_group.values() if len(rs) > 1),
        "incidents_with_several_roots": sum(1 for n in roots_by_incident.values() if n > 1),
        "unknown_roots": unknown_roots,
        "root_posted_after_s": {
            "first": round(first_root_at[0], 1) if first_root_at else None,
            "median": round(percentile(first_root_at, 0.5), 1) if first_root_at else None,
            "last": round(first_root_at[-1], 1) if first_root_at else None,
        },
        "root_edits": len(slack.calls("chat.update")),
        "replies": replies_total,
        "orphan_replies": orphan_replies,
        "alerts_expected": len(pods),
        "alerts_listed": sum(1 for p in pods if p in seen),
        "alerts_lost": len(lost),
        "alerts_lost_sample": lost[:5],
        "alerts_listed_twice": sum(1 for n in seen.values() if n > 1),
        "alerts_in_wrong_thread": misrouted,
        "alerts_counted_not_listed": not_listed,
        "lost_by_root_count": root_count_shortfall,
        "method": (
            "alerts_lost: the unique `pod` label of each alert sent, looked for in the alert "
            "lines (bot/chat/blocks.py alert_line renders labels, not the fingerprint) of the "
            "replies in its group's thread; lost_by_root_count: per group, alerts sent minus "
            "the root's 'N firing / M total' M"
        ),
        "post_errors": Counter(
            f"{c['method']}: {c['error']}" for c in slack.calls() if not c["ok"]
        ),
        "rate_violations": slack.rate_violations(),
    }


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


# -- databases ----------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'opsbot.db'}"
        return
    import psycopg
    from psycopg import sql

    name = f"opsbot_bench_{secrets.token_hex(5)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise HarnessError(f"cannot create PostgreSQL database {name}: {exc}") from exc
    log(f"PostgreSQL database {name} created")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        try:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            log(f"PostgreSQL database {name} dropped")
        except psycopg.Error as exc:
            log(f"could not drop database {name}: {exc}")


# -- the run ------------------------------------------------------------------------------------


def load_emulator() -> Any:
    try:
        from tests.fakes.slack_api import SlackEmulator
    except ImportError as exc:
        raise HarnessError(
            f"the Slack emulator (tests/fakes/slack_api.py) is missing: {exc}"
        ) from exc
    return SlackEmulator


def fmt_cpu(c: dict[str, float]) -> str:
    return (
        f"server {c['server_cores']:.2f}, harness {c['harness_cores']:.2f}, other "
        f"{c['other_cores']:.2f} cores; host {c['host_busy_pct']:.0f}% busy of "
        f"{c['host_cpus']:.0f} CPUs"
    )


def fmt_ms(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.1f}"


async def run_phases(
    args: argparse.Namespace, url: str, slack: Any, pid: int, report: dict[str, Any]
) -> None:
    rng = random.Random(args.seed)
    cpu = CpuMeter(pid)
    run_id = secrets.token_hex(4)

    storm = build_storm(
        run_id=run_id,
        groups=make_groups("svc", args.groups),
        alerts=args.alerts,
        per_delivery=args.alerts_per_delivery,
        redeliver=args.redeliver,
        spread=2 * args.concurrency,
        rng=rng,
    )
    log(
        f"storm: {storm.distinct_alerts} distinct alerts in {len(storm.groups)} groups, "
        f"{len(storm.deliveries)} deliveries ({storm.redeliveries} redeliveries), "
        f"{storm.alerts_sent} alerts on the wire"
    )
    before = cpu.snapshot()
    t0 = time.monotonic()
    if args.rate > 0:
        storm_result = await send_open_loop(
            "storm", url, storm.deliveries, args.rate, args.concurrency, args.phase_timeout
        )
    else:
        storm_result = await send_closed_loop(
            "storm", url, storm.deliveries, args.concurrency, args.phase_timeout
        )
    report["storm"] = storm_result.summary()
    report["storm"]["cpu"] = cpu.since(before)
    report["storm"]["distinct_alerts"] = storm.distinct_alerts
    report["storm"]["redeliveries"] = storm.redeliveries
    report["storm"]["redelivered_alerts"] = sum(d.alerts for d in storm.deliveries if d.redelivery)
    s = report["storm"]
    log(
        f"storm done: {s['deliveries']} deliveries, {s['alerts']} alerts in {s['seconds']}s = "
        f"{s['alerts_per_s']} alerts/s, {s['deliveries_per_s']} deliveries/s; ack ms p50 "
        f"{s['ack_ms']['p50']} p95 {s['ack_ms']['p95']} p99 {s['ack_ms']['p99']} max "
        f"{s['ack_ms']['max']}; errors {s['errors']}"
    )

    storms = [storm]
    if args.latency_rate > 0 and args.latency_seconds > 0:
        total = max(1, round(args.latency_rate * args.latency_seconds))
        k = args.latency_alerts_per_delivery
        lat = build_storm(
            run_id=run_id,
            groups=make_groups("lat", args.latency_groups, offset=args.groups),
            alerts=total,
            per_delivery=k,
            redeliver=0.0,
            spread=1,
            rng=rng,
        )
        rate = args.latency_rate / k  # deliveries/s
        log(
            f"latency: {total} alerts in {len(lat.groups)} new groups, {k} per delivery, "
            f"at {args.latency_rate:g} alerts/s ({rate:g} deliveries/s) for "
            f"{args.latency_seconds:g}s, open loop"
        )
        before = cpu.snapshot()
        lat_result = await send_open_loop(
            "latency", url, lat.deliveries, rate, args.concurrency, args.phase_timeout
        )
        report["latency"] = lat_result.summary()
        report["latency"]["cpu"] = cpu.since(before)
        report["latency"]["alerts_per_delivery"] = k
        report["latency"]["target_alerts_per_s"] = args.latency_rate
        s = report["latency"]
        log(
            f"latency done: {s['deliveries']} deliveries in {s['seconds']}s; ack ms p50 "
            f"{s['ack_ms']['p50']} p99 {s['ack_ms']['p99']} max {s['ack_ms']['max']}; "
            f"errors {s['errors']}; worst send lag {s['max_schedule_lag_ms']} ms"
        )
        storms.append(lat)

    async with httpx.AsyncClient(base_url=url) as client:
        report["metrics_after_send"] = await read_metrics(client)

    log(f"drain: waiting for the outbox to empty (up to {args.drain_timeout:g}s)")
    drain = await wait_for_drain(url, slack, args.drain_timeout)
    report["drain"] = {
        "drained": drain.drained,
        "seconds": round(drain.seconds, 1),
        "last_depth": drain.last_depth,
    }
    log(
        f"drain: {'empty' if drain.drained else 'NOT empty'} after {drain.seconds:.1f}s "
        f"(depth {drain.last_depth})"
    )
    async with httpx.AsyncClient(base_url=url) as client:
        report["metrics_final"] = await read_metrics(client)
    slack_report = analyse_slack(slack, storms, t0)
    slack_report["post_errors"] = dict(slack_report["post_errors"])
    report["slack"] = slack_report
    report["expected"] = {
        "groups": sum(len(s.groups) for s in storms),
        "distinct_alerts": sum(s.distinct_alerts for s in storms),
        "alerts_sent": sum(s.alerts_sent for s in storms),
    }


def verdicts(report: dict[str, Any]) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    storm = report.get("storm") or {}
    rate = storm.get("alerts_per_s", float("nan"))
    clean = storm.get("errors", 1) == 0
    out.append(
        (
            f"ingest >= {TARGET_INGEST_ALERTS_S:,.0f} alerts/s",
            rate >= TARGET_INGEST_ALERTS_S and clean,
            f"{rate:,.0f} alerts/s" + ("" if clean else f" with {storm.get('errors')} errors"),
        )
    )
    lat = report.get("latency")
    if lat:
        p99 = lat["ack_ms"]["p99"]
        out.append(
            (
                f"ack p99 <= {TARGET_ACK_P99_MS:.0f} ms at {lat['target_alerts_per_s']:g} alerts/s",
                p99 <= TARGET_ACK_P99_MS and lat["errors"] == 0,
                f"p99 {fmt_ms(p99)} ms (p50 {fmt_ms(lat['ack_ms']['p50'])})"
                + ("" if lat["errors"] == 0 else f", {lat['errors']} errors"),
            )
        )
    slack = report.get("slack") or {}
    exp = report.get("expected") or {}
    if slack:
        ok = slack["roots"] == exp["groups"] and slack["duplicate_roots"] == 0
        out.append(
            (
                "root messages == groups",
                ok,
                f"{slack['roots']} roots for {exp['groups']} groups, "
                f"{slack['duplicate_roots']} duplicate",
            )
        )
        out.append(
            (
                "0 alerts lost",
                slack["alerts_lost"] == 0,
                f"{slack['alerts_lost']} of {slack['alerts_expected']} not in any reply "
                f"(by root count: {slack['lost_by_root_count']})",
            )
        )
        n = len(slack["rate_violations"])
        out.append(("0 Slack rate violations", n == 0, f"{n}"))
    rss = report.get("rss_mb", {}).get("peak", float("nan"))
    out.append((f"server RSS < {TARGET_RSS_MB:.0f} MB", rss < TARGET_RSS_MB, f"peak {rss:.0f} MB"))
    return out


def print_table(report: dict[str, Any]) -> None:
    storm = report.get("storm") or {}
    lat = report.get("latency") or {}
    slack = report.get("slack") or {}
    drain = report.get("drain") or {}
    rss = report.get("rss_mb") or {}
    host = report["host"]
    rows: list[tuple[str, str]] = [
        ("database", report["db"]),
        ("host", f"{host['cpus']} CPUs, load average at start {host['loadavg_at_start']}"),
    ]
    if storm:
        ack = storm["ack_ms"]
        rows += [
            (
                "storm deliveries sent",
                f"{storm['deliveries']} ({storm['redeliveries']} redelivered)",
            ),
            ("storm alerts sent", f"{storm['alerts']} ({storm['distinct_alerts']} distinct)"),
            (
                "ingest throughput",
                f"{storm['alerts_per_s']:,.0f} alerts/s, {storm['deliveries_per_s']:,.0f} "
                f"deliveries/s over {storm['seconds']}s",
            ),
            (
                "storm ack latency ms",
                f"p50 {fmt_ms(ack['p50'])}  p95 {fmt_ms(ack['p95'])}  p99 {fmt_ms(ack['p99'])}  "
                f"max {fmt_ms(ack['max'])}",
            ),
            ("storm errors", f"{storm['errors']} {storm['errors_by_kind'] or ''}".strip()),
            ("storm CPU", fmt_cpu(storm["cpu"])),
            (
                "bot: new / deduplicated",
                f"{storm['bot_said']['alerts_new']} / {storm['bot_said']['alerts_deduplicated']} "
                f"(expected {storm['distinct_alerts']} / {storm['redelivered_alerts']})",
            ),
        ]
    if lat:
        ack = lat["ack_ms"]
        rows += [
            (
                "paced phase",
                f"{lat['alerts']} alerts at {lat['target_alerts_per_s']:g} alerts/s, "
                f"{lat['alerts_per_delivery']}/delivery, {lat['seconds']}s",
            ),
            (
                "paced ack latency ms",
                f"p50 {fmt_ms(ack['p50'])}  p95 {fmt_ms(ack['p95'])}  p99 {fmt_ms(ack['p99'])}  "
                f"max {fmt_ms(ack['max'])}",
            ),
            ("paced errors", f"{lat['errors']} {lat['errors_by_kind'] or ''}".strip()),
            ("paced CPU", fmt_cpu(lat["cpu"])),
        ]
    if drain:
        rows.append(
            (
                "outbox drain",
                f"{'drained' if drain['drained'] else 'NOT drained'} in {drain['seconds']}s "
                f"after the last send",
            )
        )
    if slack:
        rows += [
            (
                "root messages",
                f"{slack['roots']} for {report['expected']['groups']} groups "
                f"({slack['duplicate_roots']} duplicate, {slack['groups_without_root']} groups "
                f"without, {slack['unknown_roots']} unknown)",
            ),
            (
                "root posted after (s)",
                "from the storm's first send: first {first}, median {median}, last {last}".format(
                    **slack["root_posted_after_s"]
                ),
            ),
            ("root edits (chat.update)", str(slack["root_edits"])),
            ("thread replies", f"{slack['replies']} ({slack['orphan_replies']} orphan)"),
            (
                "alerts lost",
                f"{slack['alerts_lost']} of {slack['alerts_expected']} (listed twice "
                f"{slack['alerts_listed_twice']}, wrong thread {slack['alerts_in_wrong_thread']}"
                f", by root count {slack['lost_by_root_count']})",
            ),
            ("Slack rate violations", str(len(slack["rate_violations"]))),
            ("Slack API errors", json.dumps(slack["post_errors"]) if slack["post_errors"] else "0"),
        ]
    if report.get("outbox") is not None:
        rows.append(("outbox rows (kind/status)", json.dumps(report["outbox"], sort_keys=True)))
    if rss:
        rows.append(
            (
                "server RSS MB",
                f"peak {rss['peak']:.0f} (start {rss['start']:.0f}, end {rss['end']:.0f}, "
                f"{rss['samples']} samples)",
            )
        )
    if report.get("bot_log_errors") is not None:
        rows.append(("bot log ERROR/Traceback lines", str(report["bot_log_errors"])))
    width = max(len(k) for k, _ in rows)
    print()
    print("=" * 78)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("-" * 78)
    for name, ok, detail in report.get("verdicts", []):
        print(f"{'PASS ' if ok else 'SHORT'}  {name:<40} {detail}")
    print("=" * 78, flush=True)


def count_log_errors(path: Path) -> tuple[int, list[str]]:
    if not path.exists():
        return 0, []
    lines = [
        line
        for line in path.read_text(errors="replace").splitlines()
        if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
    ]
    return len(lines), lines[:10]


def run(args: argparse.Namespace) -> dict[str, Any]:
    emulator_cls = load_emulator()
    report: dict[str, Any] = {
        "db": args.db,
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    workdir = Path(tempfile.mkdtemp(prefix="opsbot-bench-"))
    log_path = workdir / "opsbot.log"
    keep_workdir = True
    slack = emulator_cls(bot_token=BOT_TOKEN, channels=(CHANNEL,), channel_rate=None)
    try:
        slack.start()
        with database(args.db, workdir) as db_url:
            env = {
                "OPSBOT_DATABASE_URL": db_url,
                "OPSBOT_ALERTMANAGER_TOKEN": AM_TOKEN,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "OPSBOT_SLACK_API_URL": slack.api_url,
                "OPSBOT_INCIDENT_CHANNEL": CHANNEL,
                "OPSBOT_LOG_LEVEL": "WARNING",
            }
            if args.channel_rate is not None:
                env["OPSBOT_SLACK_CHANNEL_RATE"] = str(args.channel_rate)
            bot = BotProcess(env, log_path=log_path)
            log(f"starting opsbot serve ({args.db}), log {log_path}")
            try:
                bot.start(timeout=60)
            except (RuntimeError, TimeoutError) as exc:
                raise HarnessError(f"opsbot did not start: {exc}") from exc
            assert bot.proc is not None
            log(f"opsbot ready at {bot.url} (pid {bot.proc.pid}); Slack emulator {slack.url}")
            budget = args.phase_timeout * 2 + args.drain_timeout + 600
            sampler = RssSampler(bot.proc.pid, budget).start()
            try:
                asyncio.run(run_phases(args, bot.url, slack, bot.proc.pid, report))
                report["outbox"] = outbox_status(db_url)
            finally:
                sampler.stop()
                report["rss_mb"] = {
                    "peak": sampler.peak / 2**20,
                    "start": sampler.first / 2**20,
                    "end": sampler.last / 2**20,
                    "samples": sampler.samples,
                }
                alive = bot.proc.poll() is None
                report["bot_alive_at_end"] = alive
                if not alive:
                    log(f"opsbot exited early with {bot.proc.returncode}")
                bot.stop()
                n, first = count_log_errors(log_path)
                report["bot_log_errors"] = n
                report["bot_log_error_sample"] = first
                report["bot_log"] = str(log_path)
        keep_workdir = bool(report.get("bot_log_errors")) or args.keep
    finally:
        try:
            slack.stop()
        except Exception as exc:  # the figures are in; a messy emulator shutdown loses nothing
            log(f"warning: the Slack emulator did not stop cleanly: {type(exc).__name__}: {exc}")
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report["verdicts"] = verdicts(report)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--alerts", type=int, help="distinct alerts in the storm [10000]")
    p.add_argument("--groups", type=int, help="alert groups (groupKeys) in the storm [200]")
    p.add_argument("--alerts-per-delivery", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=16, help="concurrent HTTP connections")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="storm deliveries/s (open loop); 0 = as fast as the bot answers (closed loop)",
    )
    p.add_argument(
        "--redeliver", type=float, default=0.1, help="fraction of storm deliveries sent twice"
    )
    p.add_argument(
        "--latency-rate", type=float, default=100.0, help="paced phase alerts/s (0 = skip it)"
    )
    p.add_argument("--latency-seconds", type=float, help="length of the paced phase [10]")
    p.add_argument("--latency-groups", type=int, help="new groups in the paced phase [10]")
    p.add_argument(
        "--latency-alerts-per-delivery",
        type=int,
        default=1,
        help="alerts per delivery in the paced phase (1: one request per alert, the worst case)",
    )
    p.add_argument("--drain-timeout", type=float, default=900.0, help="seconds")
    p.add_argument("--phase-timeout", type=float, default=600.0, help="seconds per send phase")
    p.add_argument(
        "--channel-rate",
        type=float,
        default=None,
        help="OPSBOT_SLACK_CHANNEL_RATE for the bot (default: the bot's own, 1 msg/s)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="write the full report here")
    p.add_argument("--keep", action="store_true", help="keep the work dir (bot log, SQLite file)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1,000 alerts / 20 groups, 3 s paced phase on 5 new groups\n"
        "(explicit --alerts/--groups/--latency-seconds/--latency-groups still apply)",
    )
    args = p.parse_args(argv)
    # --quick changes the defaults; options given explicitly still win.
    defaults = QUICK_DEFAULTS if args.quick else FULL_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    checks = [
        (1 <= args.alerts <= MAX_ALERTS, f"--alerts must be 1..{MAX_ALERTS}"),
        (1 <= args.groups <= args.alerts, "--groups must be 1..alerts"),
        (args.alerts_per_delivery >= 1, "--alerts-per-delivery must be >= 1"),
        (args.latency_alerts_per_delivery >= 1, "--latency-alerts-per-delivery must be >= 1"),
        (1 <= args.concurrency <= 1024, "--concurrency must be 1..1024"),
        (0.0 <= args.redeliver <= 1.0, "--redeliver must be 0..1"),
        (args.rate >= 0 and args.latency_rate >= 0, "rates must be >= 0"),
        (args.latency_groups >= 1, "--latency-groups must be >= 1"),
        (args.drain_timeout > 0 and args.phase_timeout > 0, "timeouts must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            p.error(message)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except HarnessError as exc:
        log(f"harness error: {exc}")
        return 2
    except Exception:
        log("harness error:\n" + traceback.format_exc())
        return 2
    print_table(report)
    if report.get("bot_log_error_sample"):
        print("bot log errors (first lines):")
        for line in report["bot_log_error_sample"]:
            print(f"  {line[:300]}")
        print(f"full bot log: {report['bot_log']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        log(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
