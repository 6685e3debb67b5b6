"""Median and p90 of durations, as every report figure gives them.

Both percentiles use linear interpolation between the closest ranks, numpy's default and
``statistics.quantiles(method="inclusive")``: with the n sorted values ``x[0..n-1]`` and
``h = (n - 1) * q``, the q-quantile is ``x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] -
x[floor(h)])``, rounded to the millisecond. One value is its own median and p90; no value gives
None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Durations:
    """How long something took over ``n`` cases: median and 90th percentile, in seconds."""

    n: int
    median_s: float | None
    p90_s: float | None

    def as_json(self) -> dict[str, Any]:
        return {"n": self.n, "median_s": self.median_s, "p90_s": self.p90_s}


def durations(found: Iterable[timedelta | None]) -> Durations:
    """Median and p90 of the known durations (None ones are left out)."""
    values = sorted(d.total_seconds() for d in found if d is not None)
    return Durations(len(values), quantile(values, 1, 2), quantile(values, 9, 10))


def quantile(ordered: Sequence[float], num: int, den: int) -> float | None:
    """The ``num/den`` quantile of sorted values, by linear interpolation between the closest
    ranks (numpy's default), rounded to the millisecond; None for no values."""
    if not ordered:
        return None
    # h = (n - 1) * num / den in integer arithmetic, so that the rank is exact.
    lo, rest = divmod((len(ordered) - 1) * num, den)
    value = ordered[lo]
    if rest:
        value += (ordered[lo + 1] - ordered[lo]) * rest / den
    return round(value, 3)
