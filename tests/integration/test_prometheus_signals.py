"""Catalog signals from a real Prometheus, through PromClient, around a change at a known time.

A scripted exporter holds an error ratio, a request counter (two pods) and a drift score
steady; Prometheus scrapes it every second; at T the error ratio jumps and the request rate
drops. The series fetched through ``fetch_signals`` show the shift at T, none where nothing
changed, baseline ~ old value and now ~ new value; a broken query fails alone with
Prometheus's parse error; an unreachable or hung Prometheus fails within the client timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.catalog.model import Signal
from bot.clients.prometheus import PromClient
from bot.enrich.metrics import fetch_signals, shift_after, summarize
from bot.enrich.types import SignalSeries
from bot.errors import ExternalServiceError
from tests.integration.promstack import Prometheus, wait_until
from tests.support.exporter import ScriptedExporter
from tests.support.server import free_port

pytestmark = pytest.mark.integration

SERVICE = {"service": "fraud-scorer"}
ERRORS = "opsbot_test_error_ratio"
REQUESTS = "opsbot_test_requests_total"
DRIFT = "opsbot_test_drift_score"
PODS = {"a": (10.0, 2.0), "b": (5.0, 1.0)}  # request rate per pod: before, after T
ERROR_BEFORE, ERROR_AFTER = 0.01, 0.2

SIGNALS = [
    Signal(name="error_rate", query=f'sum({ERRORS}{{service="fraud-scorer"}})', unit="ratio"),
    # No sum(): one series per pod, which PromClient adds up point by point.
    Signal(
        name="throughput",
        query=f'rate({REQUESTS}{{service="fraud-scorer"}}[3s])',
        unit="req/s",
        bad="down",
    ),
    Signal(name="drift_score", query=f"max({DRIFT})"),
    Signal(name="broken", query=f"sum(rate({REQUESTS}[3s])"),  # unclosed paren
]
BASELINE_S = 7.0  # of samples before the change
AFTER_S = 7.0  # of samples after it
# rate() is low where its range is not yet full of samples: at the start of the series (the
# fetched window starts once the range is full) and at its newest end, where the last sample
# is more than a scrape interval old (the fetched window ends EDGE_S before the newest sample).
RATE_SETTLE_S = 3.0
EDGE_S = 1.5
WAIT_S = 25.0


def unix_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Stack:
    exporter: ScriptedExporter
    prometheus: Prometheus
    client: PromClient
    origin: datetime  # before the first sample
    since: datetime  # where the fetched window starts

    def fetch(self, end: datetime) -> tuple[dict[str, SignalSeries], dict[str, str]]:
        series, errors = fetch_signals(self.client, SIGNALS, self.since, end, 1.0)
        return {s.name: s for s in series}, errors

    def wait_for(self, signal: str, until: float, what: str) -> None:
        """Poll (every 50 ms, not a blind sleep) until ``signal`` has a point at ``until``."""

        query = next(s.query for s in SIGNALS if s.name == signal)

        def reached() -> bool:
            points = self.client.query_range(query, self.origin, unix_now(), 1.0)
            return bool(points) and points[-1][0] >= until

        wait_until(reached, WAIT_S, what, self.prometheus.log_tail)

    def first_sample(self, signal: Signal) -> float:
        found: list[tuple[float, float]] = []

        def scraped() -> bool:
            found[:] = self.client.query_range(signal.query, self.origin, unix_now(), 1.0)
            return bool(found)

        wait_until(scraped, WAIT_S, f"a first sample of {signal.name}", self.prometheus.log_tail)
        return found[0][0]


@contextmanager
def scripted_stack(tmp_path: Path) -> Iterator[Stack]:
    with ScriptedExporter() as exporter:
        exporter.set(ERRORS, ERROR_BEFORE, labels=SERVICE)
        exporter.set(DRIFT, 0.2, labels={"model": "fraud-scorer"})
        for pod, (rate, _) in PODS.items():
            labels = SERVICE | {"pod": pod}
            exporter.inc(REQUESTS, 1000.0, labels=labels)  # far from 0: rate() never clamps
            exporter.set_rate(REQUESTS, rate, labels=labels)
        origin = unix_now()
        with (
            Prometheus(tmp_path / "prometheus", exporter.url) as prometheus,
            closing(PromClient(prometheus.url, timeout_s=2.0)) as client,
        ):
            yield Stack(exporter, prometheus, client, origin, origin)


def test_a_change_shows_as_a_shift_in_the_fetched_signals(tmp_path: Path) -> None:
    with scripted_stack(tmp_path) as s:
        start = s.first_sample(SIGNALS[1]) + RATE_SETTLE_S
        s.since = datetime.fromtimestamp(start, tz=UTC)
        s.wait_for("throughput", start + BASELINE_S, f"{BASELINE_S:g} s of baseline")

        t = time.time()
        s.exporter.set(ERRORS, ERROR_AFTER, labels=SERVICE)
        for pod, (_, rate) in PODS.items():
            s.exporter.set_rate(REQUESTS, rate, labels=SERVICE | {"pod": pod})
        change = datetime.fromtimestamp(t, tz=UTC)
        s.wait_for("throughput", t + AFTER_S + EDGE_S, f"{AFTER_S:g} s after the change")

        series, errors = s.fetch(datetime.fromtimestamp(t + AFTER_S, tz=UTC))

        # The broken query fails alone, with Prometheus's own words.
        assert set(errors) == {"broken"}
        assert "parse error" in errors["broken"], errors
        assert set(series) == {"error_rate", "throughput", "drift_score"}

        errors_series, throughput, drift = (
            series["error_rate"],
            series["throughput"],
            series["drift_score"],
        )
        for one in (errors_series, throughput, drift):
            assert sum(p[0] < t for p in one.points) >= BASELINE_S - 1, one
            assert sum(p[0] > t for p in one.points) >= AFTER_S - 1, one

        shift = shift_after(errors_series, change)
        assert shift is not None, errors_series.points
        assert shift.before == pytest.approx(ERROR_BEFORE)
        assert shift.after > ERROR_BEFORE * 10  # the point or two before the next scrape lag
        assert shift.in_bad_direction

        drop = shift_after(throughput, change)
        assert drop is not None, throughput.points
        assert drop.before == pytest.approx(15.0, rel=0.05)  # pods a + b
        assert drop.in_bad_direction
        assert drop.change_pct is not None
        assert drop.change_pct < -50

        # Where nothing changed: 4 s before the change (3-s windows), and the drift score at T.
        quiet = datetime.fromtimestamp(t - 4, tz=UTC)
        assert shift_after(errors_series, quiet, window_s=3, bad_only=False) is None
        assert shift_after(throughput, quiet, window_s=3, bad_only=False) is None
        assert shift_after(drift, change, bad_only=False) is None

        error_summary = summarize(errors_series, change)
        assert error_summary.baseline == pytest.approx(ERROR_BEFORE)
        assert error_summary.now == pytest.approx(ERROR_AFTER)
        assert error_summary.change_pct == pytest.approx(1900.0)
        assert error_summary.deviated

        throughput_summary = summarize(throughput, change)
        assert throughput_summary.baseline == pytest.approx(15.0, rel=0.05)
        assert throughput_summary.now == pytest.approx(3.0, rel=0.05)
        assert throughput_summary.deviated

        drift_summary = summarize(drift, change)
        assert drift_summary.baseline == pytest.approx(0.2)
        assert drift_summary.now == pytest.approx(0.2)
        assert not drift_summary.deviated

        # Straight through the client: Prometheus's error text and status, and no data at all.
        with pytest.raises(ExternalServiceError) as caught:
            s.client.query_range(SIGNALS[3].query, s.since, unix_now(), 1.0)
        assert caught.value.system == "prometheus"
        assert caught.value.operation == "query_range"
        assert caught.value.status == 400
        assert "bad_data" in caught.value.detail
        assert "parse error" in caught.value.detail
        assert SIGNALS[3].query in caught.value.detail
        assert s.client.query_range("opsbot_test_absent", s.since, unix_now(), 1.0) == []


def test_an_unreachable_prometheus_fails_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with closing(PromClient(url, timeout_s=1.0)) as client:
        started = time.monotonic()
        with pytest.raises(ExternalServiceError) as caught:
            client.query_range("up", unix_now(), unix_now(), 1.0)
        assert time.monotonic() - started < 1.0  # refused at once, and not retried with backoff
    assert caught.value.status is None
    assert "cannot connect" in caught.value.detail
    assert url in caught.value.detail


def test_a_hung_prometheus_fails_within_the_timeout() -> None:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=4) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        signals = [Signal(name=f"s{i}", query="up") for i in range(4)]
        with closing(PromClient(url, timeout_s=0.5)) as client:
            started = time.monotonic()
            series, errors = fetch_signals(client, signals, unix_now(), unix_now(), 1.0)
            elapsed = time.monotonic() - started
    assert series == []
    assert set(errors) == {s.name for s in signals}
    assert all("no answer within 0.5 s" in e for e in errors.values()), errors
    assert 0.5 <= elapsed < 1.5  # four queries at once: one timeout, not four, and no retries
