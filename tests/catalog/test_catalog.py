"""The service catalog: parsing, errors with file and line, and mapping alerts to services."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.catalog.load import load_catalog, parse_catalog
from bot.catalog.mapping import service_entry, service_name
from bot.catalog.model import Catalog
from bot.errors import ConfigError

CATALOG = """\
label_keys: [service, app]
services:
  fraud-scorer:
    namespace: ml-serving
    deployments: [fraud-scorer, fraud-scorer-canary]
    model: fraud-model
    datasets:
      - {namespace: warehouse, name: features.transactions}
    signals:
      - name: error_rate
        query: sum(rate(http_requests_total{service="fraud-scorer",code=~"5.."}[1m]))
        unit: req/s
      - {name: prediction_volume, query: 'sum(rate(predictions_total[1m]))', bad: down}
    owner: team-fraud
    channel: C0FRAUD
  payments:
    namespace: payments
    deployments: [payments-api]
"""


def test_a_catalog_file_parses_into_services() -> None:
    catalog = parse_catalog(CATALOG)
    fraud = catalog.services["fraud-scorer"]
    assert fraud.name == "fraud-scorer"
    assert fraud.deployments == ["fraud-scorer", "fraud-scorer-canary"]
    assert fraud.datasets[0].key == "warehouse/features.transactions"
    assert [s.name for s in fraud.signals] == ["error_rate", "prediction_volume"]
    assert fraud.signals[0].bad == "up"
    assert fraud.signals[1].bad == "down"
    assert fraud.channel == "C0FRAUD"
    assert catalog.label_keys == ["service", "app"]


def test_a_missing_file_is_an_empty_catalog(tmp_path: Path) -> None:
    catalog = load_catalog(tmp_path / "services.yaml")
    assert catalog.services == {}
    assert catalog.label_keys == ["service", "app", "app_kubernetes_io_name"]


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(CATALOG.replace("bad: down", "bad: sideways").replace("owner:", "ownr:"))
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    message = str(err.value)
    assert f"{path}:13: services.fraud-scorer.signals.1.bad" in message
    assert f"{path}:14: services.fraud-scorer.ownr" in message


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"services.yaml:3: invalid YAML"):
        parse_catalog("services:\n  a:\n    namespace: a: b\n")


def test_a_name_that_disagrees_with_its_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"services.yaml:3: services.a.name is 'b'"):
        parse_catalog("services:\n  a:\n    name: b\n")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"service": "fraud-scorer", "app": "other"}, "fraud-scorer"),
        ({"app": "payments"}, "payments"),
        ({"namespace": "ml-serving", "deployment": "fraud-scorer-canary"}, "fraud-scorer"),
        ({"namespace": "payments", "deployment": "payments-api"}, "payments"),
        ({"namespace": "elsewhere", "deployment": "fraud-scorer"}, "fraud-scorer"),
        ({"namespace": "ml-serving", "deployment": "unknown-api"}, "unknown-api"),
        ({"job": "node", "instance": "x"}, None),
    ],
)
def test_alert_labels_map_to_a_service(labels: dict[str, str], expected: str | None) -> None:
    assert service_name(labels, parse_catalog(CATALOG)) == expected


def test_without_a_catalog_entry_the_label_is_still_the_service() -> None:
    labels = {"service": "checkout"}
    assert service_name(labels, Catalog()) == "checkout"
    assert service_entry(labels, Catalog()) is None
    assert service_entry({"app_kubernetes_io_name": "x"}, Catalog()) is None
    assert service_name({"app_kubernetes_io_name": "x"}, Catalog()) == "x"


ML_CATALOG = """\
services:
  fraud-scorer:
    namespace: ml-serving
    tier: 1
    serving: {kind: inferenceservice, name: fraud-model}
    datasets:
      - {namespace: warehouse, name: features.transactions}
    signals:
      - {name: drift_score, query: 'max(feature_drift_score{model="fraud-model"})', drift: true}
datasets:
  transactions:
    namespace: warehouse
    name: features.transactions
    freshness: 6h
    owner: fraud-scorer
  clicks:
    namespace: warehouse
    name: raw.clicks
"""


def test_tier_serving_drift_and_dataset_objectives_parse() -> None:
    catalog = parse_catalog(ML_CATALOG)
    fraud = catalog.services["fraud-scorer"]
    assert fraud.tier == 1
    assert fraud.serving is not None
    assert (fraud.serving.kind, fraud.serving.name) == ("inferenceservice", "fraud-model")
    assert fraud.signals[0].drift is True
    transactions = catalog.datasets["transactions"]
    assert transactions.objective() == timedelta(hours=6)
    assert transactions.owner == "fraud-scorer"
    assert catalog.datasets["clicks"].objective() is None
    # the services' datasets and the catalog's, each once
    assert sorted(d.key for d in catalog.all_datasets()) == [
        "warehouse/features.transactions",
        "warehouse/raw.clicks",
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "datasets:\n  d: {namespace: w, name: t, freshness: 6h}\n",
            "needs an `owner` service",
        ),
        (
            "datasets:\n  d: {namespace: w, name: t, freshness: soon, owner: s}\n",
            "not a length like 30m, 6h, 2d",
        ),
        ("datasets:\n  d: {namespace: w, name: t, freshness: 1m, owner: s}\n", "out of range"),
        (
            "services:\n  s:\n    serving: {kind: rollout, name: s}\n",
            "needs the service's `namespace`",
        ),
        (
            "services:\n  s:\n    namespace: n\n    serving: {kind: statefulset, name: s}\n",
            "serving.kind",
        ),
        ("services:\n  s:\n    tier: 0\n", "tier"),
    ],
)
def test_bad_ml_fields_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_catalog(text)
