"""Incidents as JSON for the read API: the incident, its alerts, timeline and enrichment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.incidents.queries import alert_counts, alerts_of, enrichment_of, timeline_of
from bot.store.models import Incident


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def incident_summary(session: Session, incident: Incident) -> dict[str, Any]:
    assert incident.id is not None
    firing, total = alert_counts(session, incident.id)
    return {
        "id": incident.id,
        "status": incident.status,
        "title": incident.title,
        "severity": incident.severity,
        "service": incident.service,
        "source": incident.source,
        "group_key": incident.group_key,
        "opened_at": _iso(incident.opened_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "resolved_at": _iso(incident.resolved_at),
        "alerts_firing": firing,
        "alerts_total": total,
        "links": {
            "generator": incident.generator_url,
            "runbook": incident.runbook_url,
            "pagerduty": incident.pagerduty_url,
        },
        "pagerduty_incident_id": incident.pagerduty_incident_id,
        "slack": {"channel": incident.slack_channel, "ts": incident.slack_ts},
        "likely_cause": incident.likely_cause,
        "enrichment_state": incident.enrichment_state,
    }


def incident_detail(session: Session, incident: Incident) -> dict[str, Any]:
    assert incident.id is not None
    return {
        **incident_summary(session, incident),
        "labels": incident.labels,
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "alertname": a.alertname,
                "status": a.status,
                "starts_at": _iso(a.starts_at),
                "ends_at": _iso(a.ends_at),
                "labels": a.labels,
                "annotations": a.annotations,
                "generator_url": a.generator_url,
            }
            for a in alerts_of(session, incident.id)
        ],
        "timeline": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "text": e.text,
                "data": e.data,
            }
            for e in timeline_of(session, incident.id)
        ],
        **enrichment_view(session, incident.id),
    }


def enrichment_view(session: Session, incident_id: int) -> dict[str, Any]:
    """Each source's result (status, reason, data) and the suspects in rank order."""
    rows = enrichment_of(session, incident_id)
    enrichment = {
        r.source: {
            "status": r.status,
            "reason": r.reason,
            "duration_ms": r.duration_ms,
            "finished_at": _iso(r.finished_at),
            "data": {k: v for k, v in r.data.items() if k != "suspects"},
        }
        for r in rows
    }
    suspects: list[dict[str, Any]] = next(
        (r.data.get("suspects", []) for r in rows if r.source == "suspects"), []
    )
    return {"enrichment": enrichment, "suspects": suspects}
