"""check_metric: the threshold now, over a window (for_s) and until a deadline (timeout_s).

Most tests read a scripted data source (``ScriptedProm``: ``query_range`` with the adapter's
signature, the value of the expression at each instant) on a fake clock; the last one asks a
real Prometheus scraping a scripted exporter, through the real ``PromClient``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionFailed, ActionRefused, Plan, Target
from actions.check_metric import CheckMetric, CheckMetricParams
from actions.registry import REGISTRY
from bot.clients.prometheus import PromClient
from bot.errors import ExternalServiceError

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACTION = CheckMetric()
NO_PLAN = Plan("check")

Series = Callable[[float], float | None]  # unix seconds -> value (None: no sample)


class ScriptedProm:
    """A read-only data source with ``PromClient.query_range``'s signature."""

    def __init__(self, series: Series) -> None:
        self.series = series
        self.calls: list[tuple[str, datetime, datetime, float]] = []
        self.errors: list[ExternalServiceError] = []

    def query_range(
        self, query: str, start: datetime, end: datetime, step_s: float
    ) -> list[tuple[float, float]]:
        self.calls.append((query, start, end, step_s))
        if self.errors:
            raise self.errors.pop(0)
        points: list[tuple[float, float]] = []
        t, last = start.timestamp(), end.timestamp()
        while t <= last + 1e-9:
            value = self.series(t)
            if value is not None:
                points.append((t, value))
            t += step_s
        return points


class FakeClock:
    def __init__(self, at: datetime = T0) -> None:
        self.now = at
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def since_t0(t: float) -> float:
    return t - T0.timestamp()


def context(prom: Any, clock: FakeClock | None = None) -> ActionContext:
    clock = clock or FakeClock()
    return ActionContext(actor="console", key="run-1", prom=prom, clock=clock, sleep=clock.sleep)


def check(**raw: Any) -> CheckMetricParams:
    return ACTION.parse({"query": "error_rate", "op": "<", "threshold": 0.05, **raw})


def test_is_registered_read_only_and_targets_prometheus() -> None:
    assert isinstance(REGISTRY["check_metric"], CheckMetric)
    assert CheckMetric.writes is False
    assert ACTION.target(context(ScriptedProm(lambda t: 0.0)), check()) == Target(
        None, "prometheus/query"
    )


def test_plan_states_the_condition_and_reads_nothing() -> None:
    prom = ScriptedProm(lambda t: 0.0)
    plan = ACTION.plan(context(prom), check(for_s=60))
    assert plan.summary == "Check that error_rate < 0.05 (for 60 s)"
    assert plan.noop is False
    waiting = ACTION.plan(context(prom), check(timeout_s=300))
    assert waiting.summary == "Check that error_rate < 0.05, waiting up to 300 s"
    assert prom.calls == []


def test_passes_when_the_value_now_meets_the_threshold() -> None:
    prom = ScriptedProm(lambda t: 0.01)
    result = ACTION.apply(context(prom), check(), NO_PLAN)
    assert result.ok
    assert result.summary == "error_rate < 0.05 holds: 0.01 now"
    assert result.data["value"] == 0.01
    assert result.data["checks"] == 1
    [(query, start, end, _)] = prom.calls
    assert (query, start, end) == ("error_rate", T0, T0)


def test_fails_with_the_value_when_it_does_not() -> None:
    with pytest.raises(ActionFailed) as info:
        ACTION.apply(context(ScriptedProm(lambda t: 0.21)), check(), NO_PLAN)
    assert str(info.value) == "error_rate is 0.21, not < 0.05"


def test_no_data_never_passes() -> None:
    with pytest.raises(ActionFailed, match=r"^error_rate returned no data$"):
        ACTION.apply(context(ScriptedProm(lambda t: None)), check(op=">", threshold=-1), NO_PLAN)


@pytest.mark.parametrize(
    ("op", "value", "holds"),
    [
        ("<", 0.05, False),
        ("<=", 0.05, True),
        (">", 0.05, False),
        (">=", 0.05, True),
        (">", 0.06, True),
        ("<", 0.04, True),
    ],
)
def test_each_comparison_at_the_boundary(op: str, value: float, holds: bool) -> None:
    ctx = context(ScriptedProm(lambda t: value))
    if holds:
        assert ACTION.apply(ctx, check(op=op), NO_PLAN).ok
    else:
        with pytest.raises(ActionFailed, match=f"is {value:g}, not {op} 0.05"):
            ACTION.apply(ctx, check(op=op), NO_PLAN)


# -- for_s ----------------------------------------------------------------------------------------


def test_for_s_reads_the_whole_window_and_every_point_must_hold() -> None:
    prom = ScriptedProm(lambda t: 0.01)
    result = ACTION.apply(context(prom), check(for_s=60), NO_PLAN)
    assert result.ok
    [(_, start, end, step)] = prom.calls
    assert (start, end, step) == (T0 - timedelta(seconds=60), T0, 1.0)
    assert len(result.data["points"]) == 61


def test_for_s_fails_on_one_spike_inside_the_window() -> None:
    spike = T0.timestamp() - 40
    prom = ScriptedProm(lambda t: 0.3 if t == spike else 0.01)
    with pytest.raises(ActionFailed) as info:
        ACTION.apply(context(prom), check(for_s=60), NO_PLAN)
    assert str(info.value) == (
        "error_rate was 0.3 at 11:59:20Z, not < 0.05 (it must hold for 60 s)"
    )
    # the same spike before the window does not count
    assert ACTION.apply(context(prom), check(for_s=30), NO_PLAN).ok


def test_for_s_fails_when_the_metric_is_younger_than_the_window() -> None:
    born = T0.timestamp() - 10
    prom = ScriptedProm(lambda t: 0.01 if t >= born else None)
    with pytest.raises(ActionFailed, match="has data for only the last 10 s of 60 s"):
        ACTION.apply(context(prom), check(for_s=60), NO_PLAN)
    assert ACTION.apply(context(prom), check(for_s=10), NO_PLAN).ok


def test_for_s_fails_on_a_gap_in_the_window() -> None:
    prom = ScriptedProm(lambda t: None if -40 <= since_t0(t) <= -30 else 0.01)
    with pytest.raises(ActionFailed, match="has gaps in the last 60 s"):
        ACTION.apply(context(prom), check(for_s=60), NO_PLAN)


def test_a_long_window_is_read_at_a_coarser_step() -> None:
    prom = ScriptedProm(lambda t: 0.01)
    ACTION.apply(context(prom), check(for_s=3600), NO_PLAN)
    assert prom.calls[0][3] == 60.0


# -- timeout_s ------------------------------------------------------------------------------------


def test_timeout_rechecks_until_the_condition_holds() -> None:
    clock = FakeClock()
    prom = ScriptedProm(lambda t: 0.01 if since_t0(t) >= 12 else 0.2)
    result = ACTION.apply(context(prom, clock), check(timeout_s=30), NO_PLAN)
    assert result.ok
    assert clock.sleeps == [5.0, 5.0, 5.0]
    assert result.data["checks"] == 4
    assert result.summary == "error_rate < 0.05 holds: 0.01 now (after 15 s)"


def test_timeout_gives_up_at_the_deadline_with_the_last_value() -> None:
    clock = FakeClock()
    prom = ScriptedProm(lambda t: 0.2)
    with pytest.raises(ActionFailed) as info:
        ACTION.apply(context(prom, clock), check(timeout_s=12), NO_PLAN)
    assert clock.sleeps == [5.0, 5.0, 2.0]
    assert len(prom.calls) == 4
    assert str(info.value) == "error_rate is 0.2, not < 0.05 (still, after waiting 12 s)"


def test_timeout_with_for_s_waits_for_a_whole_good_window() -> None:
    clock = FakeClock()
    prom = ScriptedProm(lambda t: 0.01 if since_t0(t) >= 0 else 0.2)  # good from T0 on
    result = ACTION.apply(context(prom, clock), check(for_s=20, timeout_s=60), NO_PLAN)
    assert result.ok
    assert clock.now - T0 == timedelta(seconds=20)  # the first window wholly after T0


def test_a_prometheus_error_while_waiting_is_retried() -> None:
    clock = FakeClock()
    prom = ScriptedProm(lambda t: 0.01)
    prom.errors.append(ExternalServiceError("prometheus", "query_range", None, "refused"))
    result = ACTION.apply(context(prom, clock), check(timeout_s=30), NO_PLAN)
    assert result.ok
    assert result.data["checks"] == 2


def test_a_prometheus_error_without_a_timeout_is_raised() -> None:
    prom = ScriptedProm(lambda t: 0.01)
    prom.errors.append(ExternalServiceError("prometheus", "query_range", 400, "bad query"))
    with pytest.raises(ExternalServiceError, match="bad query"):
        ACTION.apply(context(prom), check(), NO_PLAN)


def test_a_clock_that_never_moves_cannot_loop_forever() -> None:
    clock = FakeClock()
    prom = ScriptedProm(lambda t: 0.2)
    ctx = ActionContext(actor="console", prom=prom, clock=clock, sleep=lambda s: None)
    with pytest.raises(ActionFailed):
        ACTION.apply(ctx, check(timeout_s=20), NO_PLAN)
    assert len(prom.calls) == 6


# -- params and configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"op": "==", "threshold": 1},
        {"op": "<", "threshold": float("nan")},
        {"op": "<", "threshold": float("inf")},
        {"op": "<", "threshold": 1, "for_s": -1},
        {"op": "<", "threshold": 1, "timeout_s": 3601},
        {"op": "<", "threshold": 1, "query": "  "},
        {"op": "<", "threshold": 1, "step": 5},
    ],
)
def test_refuses_bad_params(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTION.parse({"query": "error_rate", **raw})


def test_refuses_when_prometheus_is_not_configured() -> None:
    ctx = ActionContext(actor="console")
    with pytest.raises(ActionRefused, match=r"^Prometheus is not configured$"):
        ACTION.plan(ctx, check())
    with pytest.raises(ActionRefused, match=r"^Prometheus is not configured$"):
        ACTION.apply(ctx, check(), NO_PLAN)


# -- a real Prometheus ----------------------------------------------------------------------------

METRIC = "opsbot_test_check_metric_ratio"
LABELS = {"service": "fraud-scorer"}
QUERY = f'sum({METRIC}{{service="fraud-scorer"}})'


@pytest.mark.integration
def test_against_a_real_prometheus(tmp_path: Path) -> None:
    from tests.integration.promstack import Prometheus, wait_until
    from tests.support.exporter import ScriptedExporter

    def latest(client: PromClient) -> float | None:
        now = datetime.now(UTC)
        points = client.query_range(QUERY, now, now, 1.0)
        return points[-1][1] if points else None

    with ScriptedExporter() as exporter:
        exporter.set(METRIC, 0.01, labels=LABELS)
        with Prometheus(tmp_path / "prom", exporter.url) as prometheus:
            client = PromClient(prometheus.url, timeout_s=2.0)
            ctx = ActionContext(actor="console", key="run-1", prom=client)  # real clock, sleep
            began = datetime.now(UTC)
            wait_until(
                lambda: len(client.query_range(QUERY, began, datetime.now(UTC), 1.0)) >= 4,
                30,
                "four samples",
                prometheus.log_tail,
            )
            held = ACTION.apply(ctx, check(query=QUERY, for_s=3), NO_PLAN)
            assert held.ok
            assert held.data["value"] == pytest.approx(0.01)

            exporter.set(METRIC, 0.2, labels=LABELS)
            wait_until(lambda: (latest(client) or 0) > 0.1, 30, "0.2", prometheus.log_tail)
            with pytest.raises(ActionFailed, match=r"is 0\.2, not < 0\.05$"):
                ACTION.apply(ctx, check(query=QUERY), NO_PLAN)

            recover = threading.Timer(1.0, exporter.set, (METRIC, 0.01), {"labels": LABELS})
            recover.start()
            try:
                waited = ACTION.apply(ctx, check(query=QUERY, timeout_s=20), NO_PLAN)
            finally:
                recover.cancel()
            client.close()
    assert waited.ok
    assert waited.data["checks"] >= 2
    assert waited.data["value"] == pytest.approx(0.01)
