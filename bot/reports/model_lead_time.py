"""Model deployment lead time: from a model version's registration to its first production deploy.

A deploy event (``POST /api/v1/deployments``) carries the service, ``kind``, ``version`` and
``environment``, not the model's name: the model is the catalog's ``model`` of the deploy's
service. For every deploy of ``kind: model`` in the ``production`` environment made in
``[since, until)`` that is the **first** production model deploy of that version on that service
(a redeploy of a version already in production is not a new lead time), the lead time is
``deployed_at`` minus the time the MLflow registry recorded the version's creation (the earliest
``version_created`` event of that model and version, ``bot/registry/``).

Reported as n, median and p90 (``bot/reports/quantiles.py``) per service and overall, with each
deploy's figure. A deploy whose lead time cannot be known is listed under ``unmatched`` with why:
its service has no ``model`` in the catalog, opsbot recorded no registration of that version, or
the registration it recorded is later than the deploy. Three queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.reports.quantiles import Durations, durations
from bot.store.models import Deployment
from bot.store.registry_models import ModelRegistryEvent, RegistryEventKind

PRODUCTION = "production"
MODEL = "model"


@dataclass(frozen=True)
class LeadTime:
    deployment_id: int
    service: str
    model: str
    version: str
    registered_at: datetime
    deployed_at: datetime

    @property
    def lead(self) -> timedelta:
        return self.deployed_at - self.registered_at

    def as_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "service": self.service,
            "model": self.model,
            "version": self.version,
            "registered_at": self.registered_at.isoformat(),
            "deployed_at": self.deployed_at.isoformat(),
            "lead_s": self.lead.total_seconds(),
        }


@dataclass(frozen=True)
class Unmatched:
    deployment_id: int
    service: str
    version: str
    deployed_at: datetime
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "service": self.service,
            "version": self.version,
            "deployed_at": self.deployed_at.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ModelLeadTimes:
    deploys: tuple[LeadTime, ...]  # in deploy order
    unmatched: tuple[Unmatched, ...]  # in deploy order

    @property
    def overall(self) -> Durations:
        return durations(d.lead for d in self.deploys)

    def by_service(self) -> dict[str, tuple[str, Durations]]:
        """Service → (its model, its lead times), by service name."""
        leads: dict[str, list[LeadTime]] = defaultdict(list)
        for d in self.deploys:
            leads[d.service].append(d)
        return {
            service: (found[0].model, durations(d.lead for d in found))
            for service, found in sorted(leads.items())
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.overall.as_json(),
            "by_service": {
                service: {"model": model, **found.as_json()}
                for service, (model, found) in self.by_service().items()
            },
            "deploys": [d.as_json() for d in self.deploys],
            "unmatched": [u.as_json() for u in self.unmatched],
        }


def model_lead_times(
    session: Session, catalog: Catalog, since: datetime, until: datetime
) -> ModelLeadTimes:
    production = (Deployment.kind == MODEL, Deployment.environment == PRODUCTION)
    deploys = session.exec(
        select(Deployment)
        .where(
            *production, col(Deployment.deployed_at) >= since, col(Deployment.deployed_at) < until
        )
        .order_by(col(Deployment.deployed_at), col(Deployment.id))
    ).all()
    if not deploys:
        return ModelLeadTimes((), ())
    services = sorted({d.service for d in deploys})
    versions = sorted({d.version for d in deploys})
    first_deploys = session.exec(
        select(Deployment.service, Deployment.version, func.min(Deployment.deployed_at))
        .where(
            *production,
            col(Deployment.service).in_(services),
            col(Deployment.version).in_(versions),
        )
        .group_by(col(Deployment.service), col(Deployment.version))
    ).all()
    models = sorted({m for s in services if (m := _model(catalog, s))})
    event = ModelRegistryEvent
    registered = session.exec(
        select(event.model, event.version, func.min(event.at))
        .where(
            ModelRegistryEvent.event == RegistryEventKind.VERSION_CREATED,
            col(ModelRegistryEvent.model).in_(models),
            col(ModelRegistryEvent.version).in_(versions),
        )
        .group_by(col(ModelRegistryEvent.model), col(ModelRegistryEvent.version))
    ).all()
    return lead_times(
        deploys,
        {(s, v): at for s, v, at in first_deploys},
        {(m, v): at for m, v, at in registered if v is not None},
        catalog,
    )


def lead_times(
    deploys: Sequence[Deployment],
    first_deploy: dict[tuple[str, str], datetime],
    registered: dict[tuple[str, str], datetime],
    catalog: Catalog,
) -> ModelLeadTimes:
    """Production model deploys of the period → their lead times (see the module docstring).
    ``first_deploy``: (service, version) → its first production deploy; ``registered``:
    (model, version) → when the registry recorded the version."""
    found: list[LeadTime] = []
    unmatched: list[Unmatched] = []
    for d in deploys:
        assert d.id is not None
        if first_deploy.get((d.service, d.version), d.deployed_at) < d.deployed_at:
            continue  # a redeploy of a version already in production
        model = _model(catalog, d.service)
        at = registered.get((model, d.version)) if model else None
        if model is None:
            reason = "the catalog names no `model` for this service"
        elif at is None:
            reason = f"no registration of {model} version {d.version} recorded"
        elif at > d.deployed_at:
            reason = f"{model} version {d.version} was registered after the deploy"
        else:
            found.append(LeadTime(d.id, d.service, model, d.version, at, d.deployed_at))
            continue
        unmatched.append(Unmatched(d.id, d.service, d.version, d.deployed_at, reason))
    return ModelLeadTimes(tuple(found), tuple(unmatched))


def _model(catalog: Catalog, service: str) -> str | None:
    entry = catalog.get(service)
    return entry.model if entry else None
