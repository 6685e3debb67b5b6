"""Read queries over incidents, shared by the intake flows, the commands and the API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from bot.store.models import Alert, Enrichment, Incident, IncidentStatus, TimelineEvent


def open_incident_for_group(session: Session, group_key: str) -> Incident | None:
    return session.exec(
        select(Incident).where(
            Incident.group_key == group_key, Incident.status != IncidentStatus.RESOLVED
        )
    ).first()


def list_incidents(
    session: Session, *, status: str = "open", limit: int = 50
) -> Sequence[Incident]:
    query = select(Incident).order_by(col(Incident.id).desc()).limit(limit)
    if status == "open":
        query = query.where(col(Incident.status).in_(IncidentStatus.OPEN))
    elif status == "resolved":
        query = query.where(Incident.status == IncidentStatus.RESOLVED)
    return session.exec(query).all()


def timeline_of(session: Session, incident_id: int) -> Sequence[TimelineEvent]:
    return session.exec(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
    ).all()


def alerts_of(session: Session, incident_id: int) -> Sequence[Alert]:
    return session.exec(
        select(Alert).where(Alert.incident_id == incident_id).order_by(col(Alert.id))
    ).all()


def alert_counts(session: Session, incident_id: int) -> tuple[int, int]:
    """(firing, total) alerts of an incident."""
    rows = session.exec(
        select(Alert.status, func.count())
        .where(Alert.incident_id == incident_id)
        .group_by(Alert.status)
    ).all()
    counts = dict(rows)
    return counts.get("firing", 0), sum(counts.values())


def enrichment_of(session: Session, incident_id: int) -> Sequence[Enrichment]:
    return session.exec(
        select(Enrichment).where(Enrichment.incident_id == incident_id).order_by(col(Enrichment.id))
    ).all()


def the_open_incident_of(session: Session, service: str | None) -> int | None:
    """The id of the service's open incident when there is exactly one (a command on the
    service during it belongs on its timeline), else None."""
    if not service:
        return None
    found = session.exec(
        select(Incident.id)
        .where(Incident.service == service, col(Incident.status).in_(IncidentStatus.OPEN))
        .limit(2)
    ).all()
    return found[0] if len(found) == 1 else None
