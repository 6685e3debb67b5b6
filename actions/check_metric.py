"""``check_metric``: does a PromQL expression meet a threshold (for a while, within a deadline)?

One check asks ``ctx.prom`` for the expression at ``ctx.clock()`` (one number per instant: the
adapter sums several series). With ``for_s`` it asks for the range ``[now - for_s, now]`` at a
step of ``max(1 s, for_s / 60)`` and every point must meet the threshold, and the points must
cover the window: none missing for more than two steps, the first within a step of its start
(a metric that appeared 10 s ago has not held "for 60 s"). No data never passes.

With ``timeout_s`` the check is repeated every ``POLL_S`` seconds (``ctx.sleep``) until it passes
or ``timeout_s`` has gone by on ``ctx.clock``; a Prometheus error while waiting counts as "not
yet" (the last one is raised if the final check had one). Without a timeout one check decides
and a Prometheus error is raised as it is (``ExternalServiceError``).

Read-only (``writes = False``): the plan needs no approval and reads nothing.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from actions.base import (
    Action,
    ActionContext,
    ActionFailed,
    ActionRefused,
    Params,
    Plan,
    Result,
    Target,
)
from bot.clients.prometheus import PromClient
from bot.errors import ExternalServiceError

Op = Literal["<", "<=", ">", ">="]
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
POLL_S = 5.0  # between checks while waiting for the condition
WINDOW_POINTS = 60  # points asked for over a for_s window (step >= 1 s)
MAX_FOR_S = 86_400
MAX_TIMEOUT_S = 3_600
QUERY_SHOWN = 120
POINTS_KEPT = 120  # in the result's data


class CheckMetricParams(Params):
    query: str = Field(
        min_length=1,
        max_length=4000,
        description="PromQL giving one number per instant (several series are summed).",
    )
    op: Op = Field(description="How the value must compare with the threshold.")
    threshold: float = Field(allow_inf_nan=False, description="The value to compare with.")
    for_s: int = Field(
        0,
        ge=0,
        le=MAX_FOR_S,
        description="The condition must hold at every point of the last for_s seconds "
        "(0: now only).",
    )
    timeout_s: int = Field(
        0,
        ge=0,
        le=MAX_TIMEOUT_S,
        description="Keep checking until it holds, for at most this long (0: check once).",
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is blank")
        return value


@dataclass(frozen=True)
class Observation:
    holds: bool
    reason: str  # why not, for a person ("" when it holds)
    points: list[tuple[float, float]]

    @property
    def value(self) -> float | None:
        return self.points[-1][1] if self.points else None


def shown(query: str) -> str:
    return query if len(query) <= QUERY_SHOWN else f"{query[: QUERY_SHOWN - 1]}…"


def condition(params: CheckMetricParams) -> str:
    """``<query> < 0.05 (for 60 s)``."""
    text = f"{shown(params.query)} {params.op} {params.threshold:g}"
    return f"{text} (for {params.for_s} s)" if params.for_s else text


def observe(prom: PromClient, params: CheckMetricParams, now: datetime) -> Observation:
    """One check at ``now`` (see the module docstring)."""
    if params.for_s == 0:
        points = prom.query_range(params.query, now, now, 1.0)
        return judge(points, params, now, step_s=1.0)
    step = max(1.0, params.for_s / WINDOW_POINTS)
    start = now - timedelta(seconds=params.for_s)
    points = prom.query_range(params.query, start, now, step)
    return judge(points, params, now, step_s=step)


def judge(
    points: list[tuple[float, float]], params: CheckMetricParams, now: datetime, *, step_s: float
) -> Observation:
    """Whether ``points`` (``(unix s, value)``, time-ordered) meet the condition at ``now``."""
    q = shown(params.query)
    if not points:
        return Observation(False, f"{q} returned no data", points)
    if params.for_s:
        start = now.timestamp() - params.for_s
        # Prometheus rounds the range to whole seconds: allow one step and a second of slack.
        slack = step_s + 1.0
        if points[0][0] > start + slack:
            covered = now.timestamp() - points[0][0]
            return Observation(
                False,
                f"{q} has data for only the last {covered:.0f} s of {params.for_s} s",
                points,
            )
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(points)]
        if any(gap > 2 * step_s + 1.0 for gap in gaps):
            return Observation(False, f"{q} has gaps in the last {params.for_s} s", points)
    compare = OPS[params.op]
    bad = [(t, v) for t, v in points if not compare(v, params.threshold)]
    if not bad:
        return Observation(True, "", points)
    # The worst offender: the highest value for < and <=, the lowest for > and >=.
    pick = max if params.op in ("<", "<=") else min
    at, worst = pick(bad, key=lambda p: p[1])
    if params.for_s:
        when = datetime.fromtimestamp(at, tz=UTC).strftime("%H:%M:%SZ")
        reason = (
            f"{q} was {worst:g} at {when}, not {params.op} {params.threshold:g} "
            f"(it must hold for {params.for_s} s)"
        )
    else:
        reason = f"{q} is {worst:g}, not {params.op} {params.threshold:g}"
    return Observation(False, reason, points)


def _prom(ctx: ActionContext) -> PromClient:
    if ctx.prom is None:
        raise ActionRefused("Prometheus is not configured")
    return ctx.prom


class CheckMetric(Action[CheckMetricParams]):
    name = "check_metric"
    description = "Check that a Prometheus expression meets a threshold, optionally for a while."
    params_model = CheckMetricParams
    writes = False

    def target(self, ctx: ActionContext, params: CheckMetricParams) -> Target:
        return Target(None, "prometheus/query")

    def plan(self, ctx: ActionContext, params: CheckMetricParams) -> Plan:
        _prom(ctx)
        lines = [f"query: {params.query}"]
        summary = f"Check that {condition(params)}"
        if params.timeout_s:
            summary += f", waiting up to {params.timeout_s} s"
            lines.append(f"re-checked every {POLL_S:g} s until it holds")
        return Plan(summary=summary, lines=lines)

    def apply(self, ctx: ActionContext, params: CheckMetricParams, plan: Plan) -> Result:
        prom = _prom(ctx)
        began = ctx.clock()
        deadline = began + timedelta(seconds=params.timeout_s)
        # A guard against a clock that never moves: one check per POLL_S, and the last one.
        most = int(params.timeout_s // POLL_S) + 2
        checks = 0
        seen: Observation | None = None
        while True:
            checks += 1
            error: ExternalServiceError | None = None
            try:
                seen = observe(prom, params, ctx.clock())
            except ExternalServiceError as exc:
                if not params.timeout_s:
                    raise
                error = exc
            if seen is not None and error is None and seen.holds:
                waited = (ctx.clock() - began).total_seconds()
                summary = self._passed(params, seen, waited)
                return Result(True, summary, self._data(params, seen, checks, waited))
            remaining = (deadline - ctx.clock()).total_seconds()
            if remaining <= 0 or checks >= most:
                break
            ctx.sleep(min(POLL_S, remaining))
        if error is not None:
            raise error
        assert seen is not None
        reason = seen.reason
        if params.timeout_s:
            reason += f" (still, after waiting {params.timeout_s} s)"
        raise ActionFailed(reason)

    @staticmethod
    def _passed(params: CheckMetricParams, seen: Observation, waited: float) -> str:
        value = seen.value
        text = f"{condition(params)} holds"
        if value is not None and math.isfinite(value):
            text += f": {value:g} now"
        if waited >= 1:
            text += f" (after {waited:.0f} s)"
        return text

    @staticmethod
    def _data(
        params: CheckMetricParams, seen: Observation, checks: int, waited: float
    ) -> dict[str, Any]:
        return {
            "query": params.query,
            "op": params.op,
            "threshold": params.threshold,
            "for_s": params.for_s,
            "value": seen.value,
            "points": [[t, v] for t, v in seen.points[-POINTS_KEPT:]],
            "checks": checks,
            "waited_s": round(waited, 3),
        }
