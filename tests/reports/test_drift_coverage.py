"""Drift monitoring coverage against a real Prometheus loaded with tests/reports/ml_history.py's
DRIFT_RULES, and what the report says when the rules cannot be read."""

from __future__ import annotations

import pytest

from bot.catalog.load import parse_catalog
from bot.clients.prometheus import PromClient, PromRule
from bot.errors import ExternalServiceError
from bot.reports.drift_coverage import NO_PROMETHEUS, RulesRead, drift_coverage, read_rules
from tests.reports.history import CATALOG
from tests.support.server import free_port


def test_the_adapter_reads_every_rule_as_prometheus_printed_it(prom_client: PromClient) -> None:
    assert prom_client.rules() == [
        PromRule(
            "drift", "fraud:feature_psi:max", "recording", "max by (model) (fraud_feature_psi)"
        ),
        PromRule("drift", "FraudFeatureDrift", "alerting", "fraud:feature_psi:max > 0.2"),
        PromRule("drift", "ranker:prediction_kl:avg", "recording", "avg(ranker_prediction_kl)"),
        PromRule("drift", "SearchDrift", "alerting", "search_drift_score > 0.3"),
        PromRule(
            "serving",
            "RankerErrors",
            "alerting",
            'sum(rate(ranker_errors_total{slot="top"}[5m])) > 1',
        ),
    ]


def test_coverage_of_the_tier_one_services(prom_client: PromClient) -> None:
    coverage = drift_coverage(CATALOG, read_rules(prom_client))
    # tier 1: fraud-scorer, ranker, recsys (search is tier 2, whatever its alert).
    # fraud-scorer: its drift signal reads fraud_feature_psi; FraudFeatureDrift reads
    #   fraud:feature_psi:max, which a recording rule computes from fraud_feature_psi: covered.
    # ranker: ranker_prediction_kl is read only by a recording rule, and RankerErrors reads
    #   ranker_errors_total (its label `slot` is not a metric): not covered.
    # recsys: no signal with drift: true: not covered.   1 of 3
    assert (coverage.covered, coverage.rate) == (1, 1 / 3)
    assert coverage.as_json() == {
        "status": "ok",
        "reason": None,
        "tier1_services": 3,
        "covered": 1,
        "rate": 1 / 3,
        "by_service": {
            "fraud-scorer": {
                "covered": True,
                "drift_signals": ["feature-drift"],
                "metrics": ["fraud_feature_psi"],
                "alerts": ["FraudFeatureDrift"],
                "reason": None,
            },
            "ranker": {
                "covered": False,
                "drift_signals": ["prediction-drift"],
                "metrics": ["ranker_prediction_kl"],
                "alerts": [],
                "reason": "no alerting rule reads ranker_prediction_kl",
            },
            "recsys": {
                "covered": False,
                "drift_signals": [],
                "metrics": [],
                "alerts": [],
                "reason": "no drift signal",
            },
        },
        "not_covered": [
            {"service": "ranker", "reason": "no alerting rule reads ranker_prediction_kl"},
            {"service": "recsys", "reason": "no drift signal"},
        ],
        "unreadable_rules": [],
    }


def test_without_prometheus_coverage_is_unknown_not_zero() -> None:
    body = drift_coverage(CATALOG, NO_PROMETHEUS).as_json()
    assert (body["status"], body["covered"], body["rate"]) == ("unknown", None, None)
    assert body["reason"] == "Prometheus is not configured (OPSBOT_PROMETHEUS_URL)"
    # what is known without the rules is still said: recsys has no drift signal at all
    assert body["by_service"]["fraud-scorer"]["covered"] is None
    assert body["by_service"]["fraud-scorer"]["reason"] == "alerting rules unknown"
    assert body["not_covered"] == [{"service": "recsys", "reason": "no drift signal"}]


def test_a_prometheus_that_does_not_answer_makes_it_unknown_with_the_reason() -> None:
    port = free_port()  # nothing listens there
    client = PromClient(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(ExternalServiceError) as caught:
        client.rules()
    assert (caught.value.system, caught.value.operation) == ("prometheus", "rules")
    read = read_rules(client)
    assert read.rules is None
    assert read.unknown is not None
    assert read.unknown.startswith(
        f"Prometheus did not answer the rules request: cannot connect to http://127.0.0.1:{port}"
    )
    assert drift_coverage(CATALOG, read).as_json()["rate"] is None


def test_not_prometheus_answering_is_an_error_not_an_empty_rule_list(
    prom_client: PromClient,
) -> None:
    # Prometheus's own /-/ready is not the rules API: a 200 that is not its JSON
    other = PromClient(f"{prom_client.url}/-/ready#", timeout_s=2)
    with pytest.raises(ExternalServiceError, match="rules"):
        other.rules()


def test_alerts_read_through_chains_of_recording_rules() -> None:
    catalog = parse_catalog(
        "services:\n"
        "  a: {tier: 1, signals: [{name: d, query: 'rate(raw_drift[5m])', drift: true}]}\n"
        "  b: {tier: 1, signals: [{name: d, query: 'b_drift', drift: true}]}\n"
    )
    rules = (
        PromRule("g", "step:one", "recording", "sum(rate(raw_drift[5m]))"),
        PromRule("g", "step:two", "recording", "max(step:one)"),
        PromRule("g", "loop:x", "recording", "loop:y"),  # a loop is followed once
        PromRule("g", "loop:y", "recording", "loop:x"),
        PromRule("g", "ChainAlert", "alerting", "step:two > 1 or loop:x"),
        PromRule("g", "Recorded", "recording", "b_drift > 1"),  # not an alert
    )
    coverage = drift_coverage(catalog, RulesRead(rules, None))
    found = {s.service: (s.covered, s.alerts) for s in coverage.services}
    assert found == {"a": (True, ("ChainAlert",)), "b": (False, ())}
    assert coverage.rate == 1 / 2


def test_rules_read_holds_the_rules_or_the_reason() -> None:
    with pytest.raises(ValueError, match="either the rules or why"):
        RulesRead(None, None)
