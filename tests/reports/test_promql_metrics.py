"""Which metric names a PromQL expression reads (bot/reports/promql_metrics.py)."""

from __future__ import annotations

import re

import pytest

from bot.reports.promql_metrics import PromQLError, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("fraud_feature_psi", {"fraud_feature_psi"}),
        ("job:feature_psi:max > 0.2", {"job:feature_psi:max"}),
        # a function and its range: the metric, not `rate`, not the duration
        ("rate(http_requests_total[5m])", {"http_requests_total"}),
        # label matchers, with a `}` and a metric-like word inside a string
        ('psi{feature="amount}", model=~"fraud_.*"} > 0.2', {"psi"}),
        # grouping lists are label names, aggregations and keywords are not metrics
        ("sum by (model, job) (rate(errors_total[5m]))", {"errors_total"}),
        ("sum(rate(errors_total[5m])) without (pod)", {"errors_total"}),
        (
            "a / on (job) group_left (team) b > bool 1 unless ignoring (x) c offset 5m",
            {"a", "b", "c"},
        ),
        # group_left with no label list: the next word is a metric
        ("a * on (job) group_left b", {"a", "b"}),
        # keywords are case-insensitive in PromQL; atan2, inf and nan are not metrics
        ("SUM BY (le) (x) AND y OR z atan2 w > Inf or NaN", {"x", "y", "z", "w"}),
        # subquery, @ modifier, numbers in several spellings
        ("max_over_time(drift[1h:5m] @ start()) > 1e-3 + 0x1F + .5", {"drift"}),
        ("histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))", {"lat_bucket"}),
        ('topk(3, count_values("version", build_info))', {"build_info"}),
        # the metric named in a matcher (an equality; a regex names no one metric)
        ('{__name__="drift_psi", model="x"} or {__name__=~"other_.*"}', {"drift_psi"}),
        ("{__name__='single_quoted'}", {"single_quoted"}),
        # a comment is skipped, to the end of its line
        ("# not_a_metric here\nreal_metric > 1", {"real_metric"}),
        ("vector(1)", set()),
        ("time() - 3600", set()),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ('psi{feature="amount}', "never closed"),  # the string runs to the end
        ("rate(x[5m]", "`(` at 4 is never closed"),
        ("x{a='b'", "`{` at 1 is never closed"),
        ("rate(x[5m)", "`[` at 6 is never closed"),
        ("x)", "`)` at 1 closes nothing"),
        ("sum by (job x", "never closed"),
    ],
)
def test_unreadable_expressions_say_where(expr: str, why: str) -> None:
    with pytest.raises(PromQLError, match=re.escape(why)):
        metric_names(expr)
