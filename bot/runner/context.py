"""What playbook templates see: the incident, its labels, the top suspect, the service."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bot.catalog.model import Catalog, Service
from bot.store.models import Enrichment, Incident


def service_view(service: Service | None, name: str | None) -> dict[str, Any]:
    if service is None:
        return {
            "name": name,
            "namespace": None,
            "deployment": name,
            "deployments": [],
            "model": None,
            "signals": {},
            "serving": {"kind": "deployment", "name": name},
        }
    return {
        "name": service.name,
        "namespace": service.namespace,
        "deployment": service.deployments[0] if service.deployments else service.name,
        "deployments": list(service.deployments),
        "model": service.model,
        "signals": {s.name: s.query for s in service.signals},
        "serving": {
            "kind": service.serving.kind if service.serving else "deployment",
            "name": service.serving.name
            if service.serving
            else (service.deployments[0] if service.deployments else service.name),
        },
    }


def incident_context(session: Session, incident: Incident, catalog: Catalog) -> dict[str, Any]:
    suspects_row = session.exec(
        select(Enrichment.data).where(
            Enrichment.incident_id == incident.id, Enrichment.source == "suspects"
        )
    ).first()
    suspects = (suspects_row or {}).get("suspects", [])
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "service": incident.service,
            "severity": incident.severity,
            "labels": dict(incident.labels),
        },
        "labels": dict(incident.labels),
        "suspect": suspects[0] if suspects else None,
        "service": service_view(catalog.get(incident.service), incident.service),
    }


def service_context(catalog: Catalog, name: str) -> dict[str, Any]:
    """For a run started by command with no incident: just the service."""
    return {
        "incident": None,
        "labels": {},
        "suspect": None,
        "service": service_view(catalog.get(name), name),
    }
