"""A Backstage catalog-info.yaml as a source for the catalog, alone or imported by services.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog.load import load_catalog, parse_catalog
from bot.errors import ConfigError

CATALOG_INFO = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: fraud-scorer
  annotations:
    backstage.io/kubernetes-id: fraud-scorer
    backstage.io/kubernetes-namespace: ml-serving
    pagerduty.com/service-id: PSVC123
    opsbot/model: fraud-model
    opsbot/channel: C0FRAUD
    github.com/project-slug: acme/fraud-scorer
spec:
  type: service
  lifecycle: production
  owner: group:default/team-fraud
  dependsOn:
    - component:default/feature-store
    - resource:default/fraud-db
  consumesApis: [api:embeddings-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: feature-store
  annotations:
    backstage.io/kubernetes-namespace: features
    opsbot/deployments: feature-store-api, feature-store-writer
spec:
  type: service
  lifecycle: production
  owner: team-features
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: embeddings
spec:
  type: service
  owner: user:alice
  providesApis: [embeddings-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: embeddings-api
spec:
  type: openapi
  owner: team-ml
  definition: "openapi: 3.0.0"
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-fraud
spec:
  type: team
  children: []
"""


def test_a_catalog_info_file_gives_one_service_per_component() -> None:
    catalog = parse_catalog(CATALOG_INFO, "catalog-info.yaml")
    assert sorted(catalog.services) == ["embeddings", "feature-store", "fraud-scorer"]
    fraud = catalog.services["fraud-scorer"]
    assert fraud.owner == "team-fraud"
    assert fraud.depends_on == ["feature-store", "embeddings"]  # a Resource is not a service
    assert (fraud.namespace, fraud.deployments) == ("ml-serving", ["fraud-scorer"])
    assert fraud.pagerduty is not None
    assert fraud.pagerduty.service == "PSVC123"
    assert (fraud.model, fraud.channel) == ("fraud-model", "C0FRAUD")
    features = catalog.services["feature-store"]
    assert features.deployments == ["feature-store-api", "feature-store-writer"]
    assert catalog.services["embeddings"].owner == "alice"


def test_services_yaml_imports_it_and_its_own_fields_win(tmp_path: Path) -> None:
    (tmp_path / "catalog-info.yaml").write_text(CATALOG_INFO)
    services = tmp_path / "services.yaml"
    services.write_text(
        """\
backstage: [catalog-info.yaml]
services:
  fraud-scorer:
    channel: C0OVERRIDE
    signals:
      - {name: error_rate, query: 'sum(rate(errors_total[5m]))'}
  payments: {}
"""
    )
    catalog = load_catalog(services)
    fraud = catalog.services["fraud-scorer"]
    assert fraud.channel == "C0OVERRIDE"
    assert [s.name for s in fraud.signals] == ["error_rate"]
    assert fraud.depends_on == ["feature-store", "embeddings"]  # from Backstage
    assert "payments" in catalog.services
    assert "embeddings" in catalog.services


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {}\n",
            "document 1 has no metadata.name",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n"
            "spec: {dependsOn: component:b}\n",
            "a: spec.dependsOn is not a list",
        ),
        (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n"
            "  annotations: {pagerduty.com/service-id: not-an-id}\n",
            "services.a.pagerduty.service",
        ),
    ],
)
def test_a_bad_entity_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_catalog(text, "catalog-info.yaml")


def test_an_imported_file_that_is_missing_is_a_clear_error(tmp_path: Path) -> None:
    services = tmp_path / "services.yaml"
    services.write_text("backstage: [nowhere.yaml]\nservices: {}\n")
    with pytest.raises(ConfigError, match=r"backstage file .*nowhere\.yaml does not exist"):
        load_catalog(services)
