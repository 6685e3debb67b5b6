"""Which changes are related to the alerting service, and how closely.

A change is a suspect only when it is related to the service whose alert opened the incident:

- **the service itself**: its deploys, rollouts and model versions (the catalog's ``model``,
  also when the version comes from the model registry);
- **its data**: the datasets it reads (``datasets``) and, through lineage, their upstream
  (lineage marks those ``input_dataset`` / ``upstream_dataset`` itself);
- **what it depends on**: the services in ``depends_on``, followed transitively. A service one
  hop away weighs ``DEPENDENCY_WEIGHT``; each further hop multiplies that by ``HOP_DECAY``, and
  nothing beyond ``MAX_HOPS`` counts.

Any other change, another team's deploy a few minutes earlier say, is ``other_service``: the
thread lists it as context, and ranking leaves it out (bot/enrich/suspects.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.catalog.model import Catalog
from bot.enrich.types import ChangeEvent

MAX_HOPS = 3


@dataclass(frozen=True)
class Related:
    """The alerting service's relations, read once from the catalog per incident."""

    service: str | None
    # Services it depends on (directly or not) → hops away (1 = direct).
    dependencies: dict[str, int]
    # Registered model name → the service whose catalog ``model`` it is, and its hops (0: own).
    models: dict[str, tuple[str, int]]

    def hops_of(self, service: str | None) -> int | None:
        """0 for the service itself, n for a dependency n hops away, None when unrelated."""
        if service is None:
            return None
        if service == self.service:
            return 0
        return self.dependencies.get(service)

    @property
    def dependency_services(self) -> list[str]:
        """Nearest first, then by name: the order their changes are read in."""
        return sorted(self.dependencies, key=lambda name: (self.dependencies[name], name))


def related_to(catalog: Catalog, service: str | None) -> Related:
    """Walk ``depends_on`` breadth-first from ``service`` (cycles and self-edges are harmless)."""
    hops: dict[str, int] = {}
    frontier = [service] if service else []
    for depth in range(1, MAX_HOPS + 1):
        following: list[str] = []
        for name in frontier:
            entry = catalog.get(name)
            for dep in entry.depends_on if entry else ():
                if dep != service and dep not in hops:
                    hops[dep] = depth
                    following.append(dep)
        frontier = following
    models: dict[str, tuple[str, int]] = {}
    own = catalog.get(service)
    if own is not None and own.model and service:
        models[own.model] = (service, 0)
    for name in sorted(hops, key=lambda n: (hops[n], n)):
        entry = catalog.get(name)
        if entry is not None and entry.model and entry.model not in models:
            models[entry.model] = (name, hops[name])
    return Related(service=service, dependencies=hops, models=models)


def registry_models(catalog: Catalog) -> list[str]:
    """Every registered model the catalog names: the ones registry events are read for."""
    return sorted({s.model for s in catalog.services.values() if s.model})


def relate(changes: Iterable[ChangeEvent], related: Related) -> list[ChangeEvent]:
    """Each change with its relation to the alerting service.

    Data changes keep what lineage found (they are read from the service's own datasets, or a
    dependency's, already marked). Deploys and rollouts are placed by their service, registry
    events by their model.
    """
    out = []
    for change in changes:
        if change.kind == "data":
            out.append(change)
            continue
        service, hops = change.service, related.hops_of(change.service)
        model = change.details.get("model") if change.source == "registry" else None
        if isinstance(model, str) and model in related.models:
            service, hops = related.models[model]
        if hops is None:
            out.append(replace(change, relation="other_service", hops=0))
        elif hops == 0:
            out.append(replace(change, service=service, relation="same_service", hops=0))
        else:
            out.append(replace(change, service=service, relation="dependency", hops=hops))
    return out


def dependency_data(changes: Sequence[ChangeEvent], service: str, hops: int) -> list[ChangeEvent]:
    """Data changes read for a dependency's datasets, placed as that dependency's."""
    return [replace(c, service=service, relation="dependency", hops=hops) for c in changes]
