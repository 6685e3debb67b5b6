"""The ML team's KPIs over the scripted October (tests/reports/history.py and ml_history.py), on
SQLite and on the real PostgreSQL, with drift coverage read from a real Prometheus. Every
expected figure is worked out by hand below from the histories' tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session

from bot.clients.prometheus import PromClient
from bot.reports.drift_coverage import read_rules
from bot.reports.freshness_adherence import within_objective
from bot.reports.kpis import Report, reliability_report
from bot.reports.render import report_lines
from tests.reports.history import CATALOG, SINCE, UNTIL, at, october
from tests.reports.ml_history import october_ml
from tests.reports.rules_prometheus import RulesPrometheus
from tests.support.asgi import asgi_client

WINDOW = timedelta(minutes=360)
HOUR = 3600.0
MONTH_H = 31 * 24  # October: 744 hours observed (the period ended before now)


@pytest.fixture
def month(engine: Engine, prom_client: PromClient) -> tuple[Report, dict[str, int]]:
    ids = october(engine) | october_ml(engine)
    with Session(engine) as session:
        report = reliability_report(
            session,
            since=SINCE,
            until=UNTIL,
            change_window=WINDOW,
            catalog=CATALOG,
            rules=read_rules(prom_client),
        )
    return report, ids


def test_drift_coverage_is_in_the_report(month: tuple[Report, Any]) -> None:
    report, _ = month
    body = report.as_json()["drift_coverage"]
    # fraud-scorer covered (through the recording rule), ranker and recsys not: 1 of 3
    assert (body["status"], body["tier1_services"], body["covered"]) == ("ok", 3, 1)
    assert body["rate"] == 1 / 3
    assert [n["service"] for n in body["not_covered"]] == ["ranker", "recsys"]


def test_pipeline_success_per_job_and_overall(month: tuple[Report, Any]) -> None:
    report, _ = month
    # Runs that finished in [10-01, 11-01):
    #   etl/transactions: T1 T2 T4 complete, T3 failed (T0 ended before, T5 at the end, T6 runs)
    #   etl/features: F1 F2 complete, F3 aborted
    #   etl-gcs/transactions: G1 complete            (C1 ended in September)
    # overall 6 completed, 2 failed: 6/8 = 0.75. Most failures first, then by name.
    body = report.as_json()["pipelines"]
    assert body == {
        "runs": 8,
        "completed": 6,
        "failed": 2,
        "success_rate": 0.75,
        "by_job": {
            "etl/features": {"runs": 3, "completed": 2, "failed": 1, "success_rate": 2 / 3},
            "etl/transactions": {"runs": 4, "completed": 3, "failed": 1, "success_rate": 3 / 4},
            "etl-gcs/transactions": {"runs": 1, "completed": 1, "failed": 0, "success_rate": 1.0},
        },
    }
    assert list(body["by_job"]) == ["etl/features", "etl/transactions", "etl-gcs/transactions"]


def test_freshness_adherence_per_dataset_and_stale_now(month: tuple[Report, Any]) -> None:
    report, _ = month
    body = report.as_json()["freshness"]
    # transactions (6 h): successes T0 09-30 20:00, T1 10-01 06:00, T2 10-01 10:00, T4 10-31
    #   20:00 (T3 failed; T5 ended at the period's end; gs://other/transactions is another
    #   dataset). Within: T0 → 02:00: 10-01 00:00-02:00 = 2 h; T1 06:00-12:00 = 6 h;
    #   T2 to 16:00, from 12:00 = 4 h; T4 20:00 → the end at 24:00 = 4 h. 16 h of 744.
    #   At the end its last success (T4) is 4 h old: fresh.
    # features (1 d): F1 10-10 00:00 → 10-11 00:00 = 24 h; F2 12:00 → 10-11 12:00, 12 h more
    #   (F3 aborted). 36 h of 744. At the end F2 is 20.5 days old: stale.
    # labels (2 d): never written: 0 h, stale.
    # Overall (16 + 36 + 0) / (3 * 744) = 52 / 2232.
    assert body["as_of"] == "2026-11-01T00:00:00+00:00"
    assert (body["datasets"], body["adherence"]) == (3, 52 / 2232)
    assert body["by_dataset"] == {
        "features": {
            "dataset": "s3://lake/features",
            "owner": "ranker",
            "objective_s": 24 * HOUR,
            "within_s": 36 * HOUR,
            "observed_s": MONTH_H * HOUR,
            "adherence": 36 / 744,
            "last_complete_at": "2026-10-10T12:00:00+00:00",
            "stale": True,
        },
        "labels": {
            "dataset": "s3://lake/labels",
            "owner": "fraud-scorer",
            "objective_s": 48 * HOUR,
            "within_s": 0.0,
            "observed_s": MONTH_H * HOUR,
            "adherence": 0.0,
            "last_complete_at": None,
            "stale": True,
        },
        "transactions": {
            "dataset": "s3://lake/transactions",
            "owner": "fraud-scorer",
            "objective_s": 6 * HOUR,
            "within_s": 16 * HOUR,
            "observed_s": MONTH_H * HOUR,
            "adherence": 16 / 744,
            "last_complete_at": "2026-10-31T20:00:00+00:00",
            "stale": False,
        },
    }
    assert body["stale"] == ["features", "labels"]


def test_lineage_completeness(month: tuple[Report, Any]) -> None:
    report, _ = month
    # The catalog names 4 datasets: s3://lake/transactions (top level and fraud-scorer's),
    # s3://lake/features, s3://lake/labels, postgres://db/clicks (ranker's).
    # Seen in October: transactions (T1...), features (F1...). labels: no run names it;
    # clicks: only C1, whose events were in September. 2 of 4.
    assert report.as_json()["lineage_completeness"] == {
        "datasets": 4,
        "seen": 2,
        "rate": 0.5,
        "missing": ["postgres://db/clicks", "s3://lake/labels"],
    }


def test_model_deployment_lead_time(month: tuple[Report, Any]) -> None:
    report, ids = month
    body = report.as_json()["model_lead_time"]
    # First production model deploys of October, with their registration:
    #   L5 ranker 12 at 10-01 00:00, registered 09-25 00:00: 6 d = 518400 s
    #   L1 fraud-scorer v7 at 10-03 21:00, registered 09:00 (the earlier of two records): 43200 s
    #   L4 fraud-scorer v8 at 10-22 12:00, registered 10-20 12:00: 2 d = 172800 s
    # Not counted: L2 (v7 again), L3 (staging), L8 (ranker 11, first deployed in September, L7).
    # fraud-scorer [43200, 172800]: median 108000; p90 43200 + 0.9 * 129600 = 159840
    # ranker [518400]: its own median and p90
    # all [43200, 172800, 518400]: median 172800; p90 rank 1.8: 172800 + 0.8 * 345600 = 449280
    assert {k: body[k] for k in ("n", "median_s", "p90_s")} == {
        "n": 3,
        "median_s": 172800.0,
        "p90_s": 449280.0,
    }
    assert body["by_service"] == {
        "fraud-scorer": {"model": "fraud-model", "n": 2, "median_s": 108000.0, "p90_s": 159840.0},
        "ranker": {"model": "ranker-model", "n": 1, "median_s": 518400.0, "p90_s": 518400.0},
    }
    assert [(d["deployment_id"], d["lead_s"]) for d in body["deploys"]] == [
        (ids["L5"], 518400.0),
        (ids["L1"], 43200.0),
        (ids["L4"], 172800.0),
    ]
    assert body["deploys"][1] == {
        "deployment_id": ids["L1"],
        "service": "fraud-scorer",
        "model": "fraud-model",
        "version": "v7",
        "registered_at": "2026-10-03T09:00:00+00:00",
        "deployed_at": "2026-10-03T21:00:00+00:00",
        "lead_s": 43200.0,
    }
    # Unknown, in deploy order: history.py's D1 (fraud-model 1.4.2: no registration), D4
    # (ranker-model m-7: none), L6 (v9 registered the day after), D7 (recsys: no model)
    assert [(u["deployment_id"], u["reason"]) for u in body["unmatched"]] == [
        (ids["D1"], "no registration of fraud-model version 1.4.2 recorded"),
        (ids["D4"], "no registration of ranker-model version m-7 recorded"),
        (ids["L6"], "fraud-model version v9 was registered after the deploy"),
        (ids["D7"], "the catalog names no `model` for this service"),
    ]


def test_a_period_running_past_now_observes_freshness_up_to_now(engine: Engine) -> None:
    october(engine)
    october_ml(engine)
    now = at(10, 1, 8)
    with Session(engine) as session:
        report = reliability_report(
            session,
            since=SINCE,
            until=UNTIL,
            change_window=WINDOW,
            catalog=CATALOG,
            now=now,
        )
    body = report.as_json()["freshness"]
    # Observed 10-01 00:00-08:00 (8 h). transactions: T0 00:00-02:00 and T1 06:00-08:00: 4 h,
    # and T1 (06:00) is 2 h old at 08:00: fresh. features: never before 08:00: 0 h, stale.
    assert body["as_of"] == "2026-10-01T08:00:00+00:00"
    transactions = body["by_dataset"]["transactions"]
    assert (transactions["within_s"], transactions["observed_s"]) == (4 * HOUR, 8 * HOUR)
    assert transactions["stale"] is False
    assert body["stale"] == ["features", "labels"]
    assert body["adherence"] == 4 / 24  # (4 + 0 + 0) / (3 * 8)
    assert report.as_json()["drift_coverage"]["status"] == "unknown"  # no rules handed in


# -- the pure freshness computation ---------------------------------------------------------


def test_within_objective_is_the_union_of_fresh_spans_clipped_to_the_period() -> None:
    h = timedelta(hours=1)
    start, end = at(10, 1, 0), at(10, 2, 0)
    # 23:00 the day before covers 00:00-01:00 (1 h); 03:00 and 04:00 overlap: 03:00-06:00
    # (3 h); 22:00 is cut at the end (2 h); one after the end counts for nothing. 6 h.
    done = [at(9, 30, 23), at(10, 1, 4), at(10, 1, 3), at(10, 1, 22), at(10, 2, 1)]
    assert within_objective(done, 2 * h, start, end) == 6 * h
    assert within_objective([], 2 * h, start, end) == timedelta(0)
    assert within_objective([at(9, 1, 0)], 2 * h, start, end) == timedelta(0)  # long gone
    with pytest.raises(ValueError, match="must be positive"):
        within_objective(done, timedelta(0), start, end)


def test_the_report_in_words(month: tuple[Report, Any]) -> None:
    report, ids = month
    lines = report_lines(report)
    # the figures above, in the words /ops report uses (durations rounded down to two units)
    for line in [
        "Drift monitoring: 33% of tier-1 services (1 of 3 with a drift signal an alerting rule "
        "reads)",
        "  not covered: ranker — no alerting rule reads ranker_prediction_kl",
        "  not covered: recsys — no drift signal",
        "Pipeline runs: 75% succeeded (6 of 8; 2 failed or aborted)",
        "  etl/features: 2 of 3 (67%), 1 failed",
        "Data freshness: 2.3% of the time within objective (3 datasets)",  # 52 / 2232
        "  transactions (≤ 6h00m): 2.2%",  # 16 / 744
        "  stale now: features — last success 2026-10-10 12:00 UTC, owner ranker",
        "  stale now: labels — no successful run recorded, owner fraud-scorer",
        "Lineage completeness: 50% (2 of 4 catalog datasets had a lineage event)",
        "  missing: postgres://db/clicks",
        # 172800 s = 2d00h; 449280 s = 5d04h48m, shown 5d04h
        "Model lead time, registration → production (median / p90): 2d00h / 5d04h (n=3)",
        "  fraud-scorer (fraud-model): 1d06h / 1d20h (n=2)",  # 108000 s, 159840 s
        f"  unknown: fraud-scorer v9 (deploy {ids['L6']}) — fraud-model version v9 was "
        "registered after the deploy",
    ]:
        assert line in lines
    assert lines[-1] == "Follow-ups still open: 0"


async def test_the_api_report_has_the_ml_kpis(
    make_app: Callable[..., FastAPI], drift_prometheus: RulesPrometheus
) -> None:
    app = make_app(api_token="api-token", prometheus_url=drift_prometheus.url)
    app.state.runtime.catalog = CATALOG
    async with asgi_client(app) as api:
        response = await api.get(
            "/api/v1/report?since=7d", headers={"Authorization": "Bearer api-token"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    # nothing stored: no runs, no deploys; the rules come from the real Prometheus
    assert (body["drift_coverage"]["status"], body["drift_coverage"]["rate"]) == ("ok", 1 / 3)
    assert body["pipelines"] == {
        "runs": 0,
        "completed": 0,
        "failed": 0,
        "success_rate": None,
        "by_job": {},
    }
    assert body["freshness"]["stale"] == ["features", "labels", "transactions"]
    assert body["freshness"]["adherence"] == 0.0
    assert body["lineage_completeness"]["rate"] == 0.0
    assert body["model_lead_time"] == {
        "n": 0,
        "median_s": None,
        "p90_s": None,
        "by_service": {},
        "deploys": [],
        "unmatched": [],
    }


async def test_the_api_report_without_prometheus_says_coverage_is_unknown(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(api_token="api-token")
    app.state.runtime.catalog = CATALOG
    async with asgi_client(app) as api:
        response = await api.get(
            "/api/v1/report?since=24h", headers={"Authorization": "Bearer api-token"}
        )
    assert response.status_code == 200, response.text
    drift = response.json()["drift_coverage"]
    assert (drift["status"], drift["covered"], drift["rate"]) == ("unknown", None, None)
    assert drift["reason"] == "Prometheus is not configured (OPSBOT_PROMETHEUS_URL)"
