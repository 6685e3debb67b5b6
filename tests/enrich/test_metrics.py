"""The pure functions over SignalSeries: summaries, shifts after a change, first deviation."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.catalog.model import Signal
from bot.enrich.metrics import (
    fetch_signals,
    first_deviation,
    shift_after,
    summarize,
)
from bot.enrich.types import BadDirection, SignalSeries
from bot.errors import ExternalServiceError

T0 = 1_700_000_000.0  # the change / alert start in every test


def at(offset_s: float) -> datetime:
    return datetime.fromtimestamp(T0 + offset_s, tz=UTC)


def series(
    values: dict[float, float] | list[tuple[float, float]], bad: BadDirection = "up"
) -> SignalSeries:
    items = values.items() if isinstance(values, dict) else values
    points = sorted((T0 + t, v) for t, v in items)
    return SignalSeries("error_rate", "sum(rate(errors[1m]))", points, unit="ratio", bad=bad)


def step(before: float, after: float, *, every: float = 30, span: float = 600) -> SignalSeries:
    """``before`` up to T0 (inclusive), ``after`` from the next point on, every ``every`` s."""
    n = int(span // every)
    return series({i * every: (before if i <= 0 else after) for i in range(-n, n + 1)})


def with_bad(s: SignalSeries, bad: BadDirection) -> SignalSeries:
    return SignalSeries(s.name, s.query, s.points, s.unit, bad)


# -- shift_after --------------------------------------------------------------------------------


def test_a_step_up_is_a_shift_when_up_is_bad() -> None:
    shift = shift_after(step(1.0, 2.0), at(0))
    assert shift is not None
    assert shift.signal == "error_rate"
    assert shift.at == at(0)
    assert shift.before == pytest.approx(1.0)
    assert shift.after == pytest.approx(2.0)
    assert shift.change_pct == pytest.approx(100.0)
    assert shift.in_bad_direction is True


def test_a_step_up_is_no_shift_when_down_is_bad_unless_asked_for_any_move() -> None:
    s = with_bad(step(1.0, 2.0), "down")
    assert shift_after(s, at(0)) is None
    shift = shift_after(s, at(0), bad_only=False)
    assert shift is not None
    assert shift.in_bad_direction is False


def test_a_step_down_is_a_shift_when_down_or_any_is_bad() -> None:
    for bad in ("down", "any"):
        shift = shift_after(with_bad(step(100.0, 40.0), bad), at(0))
        assert shift is not None, bad
        assert shift.change_pct == pytest.approx(-60.0)
        assert shift.in_bad_direction is True
    assert shift_after(step(100.0, 40.0), at(0)) is None  # bad="up"


def test_noise_alone_is_no_shift() -> None:
    rng = random.Random(7)
    noisy = series({i * 15.0: rng.gauss(0.05, 0.01) for i in range(-80, 81)})
    for offset in (-600, -300, 0, 300, 600):
        assert shift_after(noisy, at(offset), bad_only=False) is None, offset


def test_a_step_within_the_noise_is_no_shift_but_one_well_beyond_it_is() -> None:
    rng = random.Random(3)
    base = {i * 15.0: rng.gauss(1.0, 0.2) for i in range(-40, 1)}
    # +30 % is past the threshold but within 3 sigma (0.6) of the before-window
    small = series(base | {i * 15.0: rng.gauss(1.3, 0.2) for i in range(1, 41)})
    assert shift_after(small, at(0)) is None
    big = series(base | {i * 15.0: rng.gauss(3.0, 0.2) for i in range(1, 41)})
    assert shift_after(big, at(0)) is not None


def test_a_change_below_the_threshold_is_no_shift() -> None:
    s = step(1.0, 1.1)  # +10 %, and the before-window is constant (no noise)
    assert shift_after(s, at(0)) is None
    assert shift_after(s, at(0), threshold_pct=5.0) is not None


def test_too_few_points_after_the_change_is_no_shift() -> None:
    s = series({t: (1.0 if t <= 0 else 5.0) for t in range(-300, 61, 30)})  # 2 points after
    assert shift_after(s, at(0)) is None
    assert shift_after(s, at(0), min_points=2) is not None


def test_a_zero_baseline_compares_absolutely_against_the_noise() -> None:
    shift = shift_after(step(0.0, 0.05), at(0))
    assert shift is not None
    assert shift.before == 0.0
    assert shift.change_pct is None  # relative change of a zero baseline is undefined
    # A baseline that averages 0 but swings +-0.1: 0.2 is within 3 sigma, 0.6 is not.
    swing = {i * 30.0: (0.1 if i % 2 else -0.1) for i in range(-20, 1)}
    assert shift_after(series(swing | {i * 30.0: 0.2 for i in range(1, 21)}), at(0)) is None
    assert shift_after(series(swing | {i * 30.0: 0.6 for i in range(1, 21)}), at(0)) is not None


def test_a_constant_series_and_an_empty_one_have_no_shift() -> None:
    assert shift_after(step(3.0, 3.0), at(0), bad_only=False) is None
    assert shift_after(step(0.0, 0.0), at(0), bad_only=False) is None
    assert shift_after(series({}), at(0)) is None


def test_shift_windows_are_bounded() -> None:
    """The step at T0 is outside both 5-minute windows around T0 - 400 s."""
    s = step(1.0, 2.0, every=10, span=900)
    assert shift_after(s, at(-400), window_s=300) is None
    assert shift_after(s, at(-400)) is not None  # the default 10 minutes reach the step


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        shift_after(step(1.0, 2.0), datetime(2026, 1, 1))


# -- summarize ----------------------------------------------------------------------------------


def test_summarize_by_hand() -> None:
    """Points every minute, 10 min either side of the alert start.

    Baseline: before the start less a 1-minute guard (a fifth of the 10 pre-alert minutes is
    longer): -600 .. -120 s, alternately 10 and 12 -> (5*10 + 4*12) / 9. The degraded minute
    before the start (50) is left out. Now: the last 2 minutes (a fifth of the 10 post-alert
    minutes) of points, 480 .. 600 s: (30 + 31 + 32) / 3 = 31.
    """
    values = {float(t): (10.0 if (t // 60) % 2 == 0 else 12.0) for t in range(-600, -60, 60)}
    values[-60.0] = 50.0
    values |= {float(t): 40.0 for t in range(0, 480, 60)}
    values |= {480.0: 30.0, 540.0: 31.0, 600.0: 32.0}
    summary = summarize(series(values), at(0))
    baseline = 98 / 9
    assert (summary.name, summary.unit, summary.deviated, summary.points) == (
        "error_rate",
        "ratio",
        True,
        21,
    )
    assert summary.baseline == pytest.approx(baseline)
    assert summary.now == pytest.approx(31.0)
    assert summary.change_pct == pytest.approx((31 - baseline) / baseline * 100)
    assert summarize(series(values, bad="down"), at(0)).deviated is False


def test_summarize_a_short_window_keeps_a_fifth_as_guard() -> None:
    """10 s before the start: the guard is 2 s, so points at -10 .. -3 s make the baseline."""
    values = {float(t): 1.0 for t in range(-10, -2)} | {-2.0: 9.0, -1.0: 9.0}
    values |= {float(t): 4.0 for t in range(0, 11)}
    summary = summarize(series(values), at(0))
    assert summary.baseline == pytest.approx(1.0)
    assert summary.now == pytest.approx(4.0)
    assert summary.change_pct == pytest.approx(300.0)
    assert summary.deviated is True


def test_summarize_empty_constant_and_zero_baseline() -> None:
    empty = summarize(series({}), at(0))
    assert (empty.baseline, empty.now, empty.change_pct, empty.deviated, empty.points) == (
        None,
        None,
        None,
        False,
        0,
    )
    flat = summarize(step(2.0, 2.0), at(0))
    assert (flat.baseline, flat.now, flat.change_pct, flat.deviated) == (2.0, 2.0, 0.0, False)
    zero = summarize(step(0.0, 0.3), at(0))
    assert (zero.baseline, zero.change_pct, zero.deviated) == (0.0, None, True)
    assert zero.now == pytest.approx(0.3)
    only_before = summarize(series({float(t): 1.0 for t in range(-300, 0, 30)}), at(0))
    assert only_before.now is None
    assert only_before.deviated is False


# -- first_deviation ----------------------------------------------------------------------------


def test_first_deviation_finds_the_step_within_one_step() -> None:
    wobble = {i * 10.0: 1.0 + 0.01 * (i % 3 - 1) for i in range(-60, 20)}
    s = series(wobble | {i * 10.0: 2.0 for i in range(20, 60)})
    found = first_deviation(s, at(0))
    assert found is not None
    assert at(200) <= found <= at(210)


def test_first_deviation_ignores_a_single_spike_and_the_good_direction() -> None:
    values = {i * 10.0: 1.0 for i in range(-60, 60)}
    values[100.0] = 9.0  # one scrape
    values |= {i * 10.0: 3.0 for i in range(30, 60)}  # the real step at 300 s
    assert first_deviation(series(values), at(0)) == at(300)
    assert first_deviation(series(values), at(0), consecutive=1) == at(100)
    assert first_deviation(series(values, bad="down"), at(0)) is None


def test_first_deviation_needs_a_baseline() -> None:
    s = series({i * 10.0: 1.0 if i < 5 else 3.0 for i in range(0, 30)})
    assert first_deviation(s, at(0)) is None  # only one point at or before T0
    assert first_deviation(series({}), at(0)) is None


# -- fetch_signals ------------------------------------------------------------------------------


class PointsByQuery:
    """Stands in for PromClient: canned points per query, or an error."""

    def __init__(self, answers: dict[str, list[tuple[float, float]] | ExternalServiceError]):
        self.answers = answers

    def query_range(
        self, query: str, start: datetime, end: datetime, step_s: float
    ) -> list[tuple[float, float]]:
        answer = self.answers[query]
        if isinstance(answer, ExternalServiceError):
            raise answer
        return answer


def test_fetch_signals_keeps_catalog_order_and_collects_errors_per_signal() -> None:
    error = ExternalServiceError("prometheus", "query_range", 400, "bad_data: parse error")
    client = PointsByQuery({"a": [(T0, 1.0)], "b": error, "c": []})
    signals = [
        Signal(name="latency", query="a", unit="s"),
        Signal(name="broken", query="b"),
        Signal(name="volume", query="c", bad="down"),
    ]
    got, errors = fetch_signals(client, signals, at(-60), at(60), 15)  # type: ignore[arg-type]
    assert [(s.name, s.points, s.unit, s.bad) for s in got] == [
        ("latency", [(T0, 1.0)], "s", "up"),
        ("volume", [], None, "down"),
    ]
    assert errors == {"broken": str(error)}
    assert fetch_signals(client, [], at(-60), at(60), 15) == ([], {})  # type: ignore[arg-type]
