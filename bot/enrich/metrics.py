"""What the service's catalog signals did around an incident.

``fetch_signals`` is the only function here that does I/O (through ``PromClient``); the rest are
pure functions over ``SignalSeries``:

- ``summarize``: baseline before the alert vs now, and whether the signal deviated.
- ``shift_after``: did the signal shift (in its bad direction) after a change event?
- ``first_deviation``: when did the signal first leave its baseline band (time to detect)?

One test of "moved" is shared by all three (``_moved``): a value moved away from a reference
window when ``|value - mean|`` is more than ``NOISE_SIGMAS`` standard deviations of the window
(the noise) AND, relative to the mean, at least ``threshold_pct``. When the reference mean is ~0
(``|mean| <= ZERO``) a relative change is undefined: only the noise test applies, and for a
constant zero reference any change beyond ``ZERO`` counts (an error rate leaving 0 is news).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.catalog.model import Signal
from bot.clients.prometheus import PromClient
from bot.enrich.types import BadDirection, SignalSeries
from bot.errors import ExternalServiceError

log = logging.getLogger(__name__)

# The last minute before an alert starts is often already degraded (the condition has to hold
# for the rule's ``for:``): the baseline leaves it out, or a fifth of the pre-alert span if that
# is shorter (a short window still gets a baseline).
BASELINE_GUARD_S = 60.0
# "now" is the mean of the most recent 2 minutes, or of the last fifth of the post-alert span
# if that is shorter (so it is about the latest state, not the whole incident).
NOW_WINDOW_S = 120.0
# shift_after / first_deviation compare against at most 10 minutes on each side.
SHIFT_WINDOW_S = 600.0
NOISE_SIGMAS = 3.0
THRESHOLD_PCT = 25.0
ZERO = 1e-9
FETCH_WORKERS = 4

Point = tuple[float, float]


def fetch_signals(
    client: PromClient,
    signals: Sequence[Signal],
    start: datetime,
    end: datetime,
    step_s: float,
) -> tuple[list[SignalSeries], dict[str, str]]:
    """Query every signal over ``[start, end]``; ``(series, errors by signal name)``.

    Up to ``FETCH_WORKERS`` queries run at once, so a hung Prometheus costs about one client
    timeout per ``FETCH_WORKERS`` signals rather than one per signal. A signal that fails is
    left out of the series and its error (``ExternalServiceError`` text, with Prometheus's own
    message) is in the dict; the others still come back, in catalog order. A signal whose query
    matched nothing comes back as a series with no points.
    """

    def one(signal: Signal) -> SignalSeries | str:
        try:
            points = client.query_range(signal.query, start, end, step_s)
        except ExternalServiceError as exc:
            return str(exc)
        return SignalSeries(signal.name, signal.query, points, unit=signal.unit, bad=signal.bad)

    if not signals:
        return [], {}
    with ThreadPoolExecutor(min(FETCH_WORKERS, len(signals)), "prom-signal") as pool:
        outcomes = list(pool.map(one, signals))
    series: list[SignalSeries] = []
    errors: dict[str, str] = {}
    for signal, outcome in zip(signals, outcomes, strict=True):
        if isinstance(outcome, str):
            errors[signal.name] = outcome
        else:
            series.append(outcome)
    if errors:
        log.warning("signals not fetched: %s", ", ".join(sorted(errors)))
    return series, errors


@dataclass(frozen=True)
class SignalSummary:
    """Baseline vs now for one signal. ``baseline``/``now`` are None with no points there;
    ``change_pct`` is None when either is, or the baseline is ~0."""

    name: str
    unit: str | None
    baseline: float | None
    now: float | None
    change_pct: float | None
    deviated: bool  # now moved away from the baseline in the bad direction (see _moved)
    points: int


def summarize(
    series: SignalSeries, alert_start: datetime, *, threshold_pct: float = THRESHOLD_PCT
) -> SignalSummary:
    """Baseline: mean of the points before ``alert_start`` less a guard (``BASELINE_GUARD_S``,
    or a fifth of the pre-alert span if shorter). Now: mean of the points at or after
    ``alert_start`` within the last ``NOW_WINDOW_S`` (or the last fifth of the post-alert span
    if shorter) of the series."""
    start = _unix(alert_start)
    points = series.points
    before = [p for p in points if p[0] < start]
    after = [p for p in points if p[0] >= start]
    baseline_values: list[float] = []
    if before:
        guard = min(BASELINE_GUARD_S, (start - before[0][0]) / 5)
        baseline_values = [v for t, v in before if t < start - guard]
    now_values: list[float] = []
    if after:
        last = after[-1][0]
        window = min(NOW_WINDOW_S, (last - start) / 5)
        now_values = [v for t, v in after if t >= last - window]
    baseline = statistics.fmean(baseline_values) if baseline_values else None
    now = statistics.fmean(now_values) if now_values else None
    deviated = False
    if baseline is not None and now is not None:
        moved, bad = _moved(baseline_values, now, series.bad, threshold_pct)
        deviated = moved and bad
    return SignalSummary(
        name=series.name,
        unit=series.unit,
        baseline=baseline,
        now=now,
        change_pct=_change_pct(baseline, now),
        deviated=deviated,
        points=len(points),
    )


@dataclass(frozen=True)
class Shift:
    """A signal's mean moved after a change event."""

    signal: str
    at: datetime  # the change event's time
    before: float  # mean of the window before ``at``
    after: float  # mean of the window after ``at``
    change_pct: float | None  # None when ``before`` is ~0
    in_bad_direction: bool


def shift_after(
    series: SignalSeries,
    at: datetime,
    *,
    min_points: int = 3,
    threshold_pct: float = THRESHOLD_PCT,
    window_s: float = SHIFT_WINDOW_S,
    bad_only: bool = True,
) -> Shift | None:
    """Compare the mean of ``[at - window_s, at]`` with the mean of ``(at, at + window_s]``
    (each bounded by the series; a point exactly at ``at`` shows the state before the change,
    as a range-query point is the latest sample at or before its time).

    A ``Shift`` when both windows have ``min_points`` points and the after-mean moved (see the
    module docstring: beyond the noise and ``threshold_pct``); with ``bad_only`` (the default)
    only a move in the signal's bad direction counts, otherwise any move does and
    ``in_bad_direction`` says which. A later change inside the after-window is not told apart.
    """
    t0 = _unix(at)
    before = [v for t, v in series.points if t0 - window_s <= t <= t0]
    after = [v for t, v in series.points if t0 < t <= t0 + window_s]
    if len(before) < min_points or len(after) < min_points:
        return None
    after_mean = statistics.fmean(after)
    moved, bad = _moved(before, after_mean, series.bad, threshold_pct)
    if not moved or (bad_only and not bad):
        return None
    before_mean = statistics.fmean(before)
    return Shift(
        signal=series.name,
        at=at,
        before=before_mean,
        after=after_mean,
        change_pct=_change_pct(before_mean, after_mean),
        in_bad_direction=bad,
    )


def first_deviation(
    series: SignalSeries,
    baseline_until: datetime,
    *,
    min_points: int = 3,
    threshold_pct: float = THRESHOLD_PCT,
    window_s: float = SHIFT_WINDOW_S,
    consecutive: int = 2,
) -> datetime | None:
    """The time of the first point after ``baseline_until`` that starts a run of
    ``consecutive`` points outside the baseline band in the bad direction, or None.

    The band is ``[baseline_until - window_s, baseline_until]`` (at least ``min_points``
    points), and a point is outside it when it moved from that window's mean (module docstring).
    Asking for a run keeps a single spike from counting.
    """
    if consecutive < 1:
        raise ValueError(f"consecutive must be >= 1, got {consecutive}")
    t0 = _unix(baseline_until)
    reference = [v for t, v in series.points if t0 - window_s <= t <= t0]
    if len(reference) < min_points:
        return None
    run_start: float | None = None
    run = 0
    for t, v in series.points:
        if t <= t0:
            continue
        moved, bad = _moved(reference, v, series.bad, threshold_pct)
        if moved and bad:
            run_start = t if run == 0 else run_start
            run += 1
            if run >= consecutive and run_start is not None:
                return datetime.fromtimestamp(run_start, tz=UTC)
        else:
            run = 0
    return None


def _moved(
    reference: Sequence[float], value: float, bad: BadDirection, threshold_pct: float
) -> tuple[bool, bool]:
    """``(moved, in the bad direction)`` for ``value`` against the ``reference`` window."""
    mean = statistics.fmean(reference)
    delta = value - mean
    noise = NOISE_SIGMAS * statistics.stdev(reference) if len(reference) > 1 else 0.0
    moved = abs(delta) > max(noise, ZERO)
    if moved and abs(mean) > ZERO:
        moved = abs(delta) / abs(mean) * 100 >= threshold_pct
    return moved, _in_bad_direction(delta, bad)


def _in_bad_direction(delta: float, bad: BadDirection) -> bool:
    if bad == "up":
        return delta > 0
    if bad == "down":
        return delta < 0
    return delta != 0


def _change_pct(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or abs(before) <= ZERO:
        return None
    return (after - before) / abs(before) * 100


def _unix(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError(f"need a timezone-aware time, got {at!r}")
    return at.timestamp()
