"""A person acknowledging or resolving an incident from chat (``/ops ack``, ``/ops resolve``)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot.incidents import timeline
from bot.outbox.queue import enqueue_root_update
from bot.store.models import Incident, IncidentStatus
from bot.store.tx import run_tx
from bot.store.types import utcnow
from bot.summary.requests import request_summary


def set_status(
    engine: Engine, incident_id: int, verb: str, actor: str, *, dry: bool
) -> str | LookupError | None:
    """Check (``dry``) or apply the change; the incident's PagerDuty id (None if unlinked), or
    an error a person can read."""

    def work(session: Session) -> str | LookupError | None:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return LookupError(f"No incident #{incident_id}.")
        if incident.status == IncidentStatus.RESOLVED:
            return LookupError(f"#{incident_id} is already resolved.")
        if verb == "ack" and incident.status == IncidentStatus.ACKNOWLEDGED:
            return LookupError(f"#{incident_id} is already acknowledged.")
        if dry:
            return incident.pagerduty_incident_id
        now = utcnow()
        if verb == "ack":
            incident.status = IncidentStatus.ACKNOWLEDGED
            incident.acknowledged_at = now
            text = f"Acknowledged by <@{actor}>"
        else:
            incident.status = IncidentStatus.RESOLVED
            incident.resolved_at = now
            text = f"Resolved by <@{actor}>"
        incident.updated_at = now
        session.add(incident)
        timeline.add(
            session,
            incident_id,
            "acknowledged" if verb == "ack" else "resolved_by_person",
            text,
            actor=actor,
        )
        enqueue_root_update(session, incident)
        if verb != "ack":
            request_summary(session, incident, final=True, requested_by=actor)
        return incident.pagerduty_incident_id

    if dry:
        with Session(engine) as session:
            return work(session)
    return run_tx(engine, work)
