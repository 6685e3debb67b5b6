"""A person acknowledging or resolving an incident from chat (``/ops ack``, ``/ops resolve``)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot.incidents.acknowledge import acknowledge
from bot.incidents.resolve import resolve
from bot.incidents.timeline import Because
from bot.outbox.queue import INTERACTIVE
from bot.store.models import Incident, IncidentStatus
from bot.store.tx import run_tx
from bot.store.types import utcnow


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
            acknowledge(
                session,
                incident,
                now,
                Because("acknowledged", f"Acknowledged by <@{actor}>", actor=actor),
                priority=INTERACTIVE,
            )
        else:
            resolve(
                session,
                incident,
                now,
                Because("resolved_by_person", f"Resolved by <@{actor}>", actor=actor),
                requested_by=actor,
                priority=INTERACTIVE,
            )
        return incident.pagerduty_incident_id

    if dry:
        with Session(engine) as session:
            return work(session)
    return run_tx(engine, work)
