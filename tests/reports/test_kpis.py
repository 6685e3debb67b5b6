"""The reliability KPIs of a scripted October (tests/reports/history.py), on SQLite and on the
real PostgreSQL. Every expected figure is worked out by hand below from the history's table."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.reports.kpis import Report, reliability_report, top_alerts
from bot.reports.quantiles import Durations, quantile
from tests.reports.history import CATALOG, SINCE, UNTIL, october

WINDOW = timedelta(minutes=360)


@pytest.fixture
def month(engine: Engine) -> tuple[Report, dict[str, int]]:
    ids = october(engine)
    with Session(engine) as session:
        report = reliability_report(
            session, since=SINCE, until=UNTIL, change_window=WINDOW, catalog=CATALOG
        )
    return report, ids


def test_incidents_in_the_period_by_service_and_severity(month: tuple[Report, Any]) -> None:
    report, _ = month
    # I1..I6; I7 opened a minute before the period, I8 exactly at its (open) end.
    counts = report.incidents.as_json()
    assert counts == {
        "total": 6,
        "by_service": {
            "fraud-scorer": {"total": 2, "by_severity": {"critical": 1, "warning": 1}},  # I1 I2
            "ranker": {"total": 2, "by_severity": {"critical": 1, "warning": 1}},  # I3 I4
            "recsys": {"total": 1, "by_severity": {"critical": 1}},  # I5
            "unknown": {"total": 1, "by_severity": {"unknown": 1}},  # I6: no service, severity
        },
        "by_severity": {"critical": 3, "warning": 2, "unknown": 1},
    }
    assert [s.service for s in report.incidents.by_service] == [
        "fraud-scorer",
        "ranker",
        "recsys",
        "unknown",
    ]


def test_mtta_and_mttr_median_and_p90(month: tuple[Report, Any]) -> None:
    report, _ = month
    # From the first alert (I1's is 10:00, before it opened at 10:01; I3's 11:59):
    # acknowledged: I1 10:05-10:00 = 300, I2 08:02-08:00 = 120, I3 12:09-11:59 = 600,
    #               I4 09:20-09:00 = 1200, I6 06:01-06:00 = 60 (I5 never acknowledged)
    # sorted 60 120 300 600 1200: median 300; p90 rank (5-1)*0.9 = 3.6 -> 600 + 0.6*600 = 960
    assert report.response.acknowledge == Durations(5, 300.0, 960.0)
    # resolved: I1 11:00-10:00 = 3600, I2 08:30-08:00 = 1800, I3 14:59-11:59 = 10800,
    #           I5 00:40-00:00 = 2400, I6 06:31-06:00 = 1860 (I4 still open)
    # sorted 1800 1860 2400 3600 10800: median 2400; p90 3600 + 0.6*(10800-3600) = 7920
    assert report.response.resolve == Durations(5, 2400.0, 7920.0)


def test_mttd_and_mttm_where_known(month: tuple[Report, Any]) -> None:
    report, _ = month
    # deviated: I1 09:58 -> 10:00 = 120; I3 min(11:56, 11:54) = 11:54 -> 11:59 = 300;
    # I2's enrichment found none (None, and a string that is not a time): unknown.
    # two values 120 300: median rank 0.5 -> 210; p90 rank 0.9 -> 120 + 0.9*180 = 282
    assert report.response.detect == Durations(2, 210.0, 282.0)
    # mitigated: I1 by the rollback at 10:20 (not the dry run at 10:10, not the message at
    # 10:15) = 1200; I3 by the scale at 12:29 (not the failed restart at 12:10) = 1800
    # median 1200 + 0.5*600 = 1500; p90 1200 + 0.9*600 = 1740
    assert report.response.mitigate == Durations(2, 1500.0, 1740.0)


def test_change_failure_rate_per_service_and_overall(month: tuple[Report, Any]) -> None:
    report, ids = month
    deploys = report.as_json()["change_failure"]
    # fraud-scorer: D1 (I1 3h01m later: failed), D2 (I2 20h later), D6 (I6 has no service),
    #               D8 (at the period's start, staging; I7 opened before it) -> 1/4
    # ranker:       D3 (I3 exactly 6h later: failed), D4 (I4 6h00m01s later), D5 (the next
    #               incident, I5, is recsys's) -> 1/3
    # recsys:       D7 (I8 4h later, after the period: failed), D9 (I5 opened at the same
    #               second, not after it) -> 1/2
    # D10 (before the period) and D11 (at its end) are not in it. Overall 3/9.
    assert deploys["window_min"] == 360
    assert (deploys["deploys"], deploys["failed"], deploys["rate"]) == (9, 3, 3 / 9)
    assert deploys["by_service"] == {
        "fraud-scorer": {"deploys": 4, "failed": 1, "rate": 1 / 4},
        "ranker": {"deploys": 3, "failed": 1, "rate": 1 / 3},
        "recsys": {"deploys": 2, "failed": 1, "rate": 1 / 2},
    }
    assert [
        (f["deployment_id"], f["version"], f["incident_id"]) for f in deploys["failed_deploys"]
    ] == [
        (ids["D1"], "1.4.2", ids["I1"]),
        (ids["D3"], "r-51", ids["I3"]),
        (ids["D7"], "v3", ids["I8"]),
    ]
    first = deploys["failed_deploys"][0]
    assert first == {
        "deployment_id": ids["D1"],
        "service": "fraud-scorer",
        "kind": "model",
        "version": "1.4.2",
        "environment": "production",
        "deployed_at": "2026-10-02T07:00:00+00:00",
        "incident_id": ids["I1"],
        "incident_opened_at": "2026-10-02T10:01:00+00:00",
    }


def test_a_shorter_window_fails_fewer_deploys(engine: Engine) -> None:
    ids = october(engine)
    with Session(engine) as session:
        report = reliability_report(
            session, since=SINCE, until=UNTIL, change_window=timedelta(hours=5), catalog=CATALOG
        )
    # 5 h: D1's incident came 3h01m later and D7's 4h later, but D3's 6h later -> 2/9
    assert [f.deployment_id for f in report.deploys.failed] == [ids["D1"], ids["D7"]]
    assert report.deploys.failure_rate == 2 / 9


def test_deploys_per_service_and_kind(month: tuple[Report, Any]) -> None:
    report, _ = month
    # fraud-scorer D1 model, D2 D6 D8 code; ranker D3 D5 code, D4 model; recsys D7 model, D9 code
    assert report.as_json()["deploys"] == {
        "total": 9,
        "by_service": {
            "fraud-scorer": {"total": 4, "code": 3, "model": 1},
            "ranker": {"total": 3, "code": 2, "model": 1},
            "recsys": {"total": 2, "code": 1, "model": 1},
        },
    }


def test_rollbacks_count_only_successful_real_ones_in_the_period(
    month: tuple[Report, Any],
) -> None:
    report, _ = month
    # R1 (fraud-scorer-api, the catalog's fraud-scorer) and R2 (legacy-batch, in no catalog
    # entry: its Deployment name). Not R0 (dry run), R3 (failed), R4 (before the period),
    # R5 (at its end), nor the restart and scale runs.
    assert report.as_json()["rollbacks"] == {
        "total": 2,
        "by_service": {"fraud-scorer": 1, "legacy-batch": 1},
    }


def test_top_alerts_by_incidents_then_occurrences_then_name(month: tuple[Report, Any]) -> None:
    report, _ = month
    # ModelLatencyHigh in I1 I3 I5; FraudScorerErrors in I1 (twice) and I2 (I7's is outside);
    # DiskFull twice in I6; then one each, by name (I8's FeatureStaleness is outside).
    assert report.as_json()["top_alerts"] == [
        {"alertname": "ModelLatencyHigh", "incidents": 3, "occurrences": 3},
        {"alertname": "FraudScorerErrors", "incidents": 2, "occurrences": 3},
        {"alertname": "DiskFull", "incidents": 1, "occurrences": 2},
        {"alertname": "FeatureStaleness", "incidents": 1, "occurrences": 1},
        {"alertname": "RankerDown", "incidents": 1, "occurrences": 1},
        {"alertname": "RankerLatency", "incidents": 1, "occurrences": 1},
    ]


def test_the_json_says_the_period_and_every_section(month: tuple[Report, Any]) -> None:
    report, _ = month
    body = report.as_json()
    assert body["period"] == {
        "since": "2026-10-01T00:00:00+00:00",
        "until": "2026-11-01T00:00:00+00:00",
        "days": 31,
    }
    assert body["response"] == {
        "mttd": {"n": 2, "median_s": 210.0, "p90_s": 282.0},
        "mtta": {"n": 5, "median_s": 300.0, "p90_s": 960.0},
        "mttm": {"n": 2, "median_s": 1500.0, "p90_s": 1740.0},
        "mttr": {"n": 5, "median_s": 2400.0, "p90_s": 7920.0},
    }
    assert list(body) == [
        "period",
        "incidents",
        "response",
        "deploys",
        "change_failure",
        "rollbacks",
        "top_alerts",
        "follow_ups_open",
        "drift_coverage",
        "pipelines",
        "freshness",
        "lineage_completeness",
        "model_lead_time",
    ]


def test_an_empty_period_has_no_figures(engine: Engine) -> None:
    october(engine)
    with Session(engine) as session:
        report = reliability_report(
            session,
            since=UNTIL + timedelta(days=1),
            until=UNTIL + timedelta(days=2),
            change_window=WINDOW,
        )
    body = report.as_json()
    assert body["incidents"] == {"total": 0, "by_service": {}, "by_severity": {}}
    assert body["response"]["mttr"] == {"n": 0, "median_s": None, "p90_s": None}
    assert body["change_failure"]["rate"] is None
    assert body["rollbacks"] == {"total": 0, "by_service": {}}
    assert body["top_alerts"] == []


def test_since_must_be_before_until(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="must be before"):
        reliability_report(session, since=UNTIL, until=SINCE, change_window=WINDOW)


# -- the percentile method ------------------------------------------------------------------------


def test_one_value_is_its_own_median_and_p90_and_none_is_none() -> None:
    assert (quantile([42.0], 1, 2), quantile([42.0], 9, 10)) == (42.0, 42.0)
    assert (quantile([], 1, 2), quantile([], 9, 10)) == (None, None)


@pytest.mark.parametrize(
    "values",
    [[1.0, 2.0], [5.0, 1.0, 3.0], [float(v) for v in range(1, 11)], [7.5, 3.25, 100.0, 11.0]],
)
def test_quantiles_interpolate_like_statistics_inclusive(values: list[float]) -> None:
    ordered = sorted(values)
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    assert quantile(ordered, 9, 10) == pytest.approx(deciles[8])
    assert quantile(ordered, 1, 2) == pytest.approx(statistics.median(ordered))


def test_top_alerts_keep_ten_and_name_the_unnamed() -> None:
    pairs = [(i, f"Alert{i:02d}") for i in range(12)] + [(1, ""), (2, "")]
    found = top_alerts(pairs)
    assert len(found) == 10
    assert (found[0].alertname, found[0].incidents) == ("(no alertname)", 2)
    assert [a.alertname for a in found[1:]] == [f"Alert{i:02d}" for i in range(9)]
