"""Relations between services: which changes are suspects for an incident, and which are context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.catalog.load import parse_catalog
from bot.enrich.relations import MAX_HOPS, registry_models, relate, related_to
from bot.enrich.types import ChangeEvent

AT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)

CATALOG = parse_catalog(
    """
services:
  fraud-scorer:
    model: fraud-model
    depends_on: [feature-store, fraud-scorer]
  feature-store:
    model: embeddings
    depends_on: [kafka]
  kafka:
    depends_on: [zookeeper, feature-store]
  zookeeper:
    depends_on: [disk]
  disk: {}
  payments:
    model: payments-model
"""
)


def deploy(service: str, *, source: str = "deploy_event", **details: object) -> ChangeEvent:
    return ChangeEvent(
        kind="model" if source == "registry" else "code",
        ref=f"{service}:1",
        service=None if source == "registry" else service,
        at=AT - timedelta(minutes=5),
        source=source,
        summary=f"{service}:1 deployed",
        details=dict(details),
    )


def test_depends_on_is_followed_transitively_up_to_the_hop_limit() -> None:
    related = related_to(CATALOG, "fraud-scorer")
    assert related.dependencies == {"feature-store": 1, "kafka": 2, "zookeeper": 3}
    assert MAX_HOPS == 3  # `disk` is four hops away: not related
    assert related.hops_of("fraud-scorer") == 0
    assert related.hops_of("disk") is None
    assert related.hops_of("payments") is None
    assert related.dependency_services == ["feature-store", "kafka", "zookeeper"]


def test_changes_are_placed_by_service_and_registry_events_by_model() -> None:
    related = related_to(CATALOG, "fraud-scorer")
    placed = relate(
        [
            deploy("fraud-scorer"),
            deploy("kafka"),
            deploy("payments"),
            deploy("fraud-model", source="registry", model="fraud-model"),
            deploy("embeddings", source="registry", model="embeddings"),
            deploy("payments-model", source="registry", model="payments-model"),
        ],
        related,
    )
    assert [(c.relation, c.service, c.hops) for c in placed] == [
        ("same_service", "fraud-scorer", 0),
        ("dependency", "kafka", 2),
        ("other_service", "payments", 0),
        ("same_service", "fraud-scorer", 0),  # its own model, moved in the registry
        ("dependency", "feature-store", 1),
        ("other_service", None, 0),  # another service's model: context
    ]


def test_a_service_outside_the_catalog_relates_only_to_itself() -> None:
    related = related_to(CATALOG, "unknown")
    assert related.dependencies == {}
    assert related.models == {}
    placed = relate([deploy("unknown"), deploy("fraud-scorer")], related)
    assert [c.relation for c in placed] == ["same_service", "other_service"]


def test_registry_events_are_read_for_every_model_the_catalog_names() -> None:
    assert registry_models(CATALOG) == ["embeddings", "fraud-model", "payments-model"]
