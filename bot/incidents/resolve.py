"""The one way an incident becomes resolved, whoever says so: the last alert resolving
(Alertmanager, a dataset fresh again), PagerDuty, or a person (``/ops resolve``).

``resolve`` applies the guard (a resolved incident stays as it is), sets the status and the
time, puts the reason on the timeline, asks for the final post-incident summary and, unless the
caller redraws the root itself, asks for the root to be redrawn (at ``priority``: interactive
when a person is waiting to see it). It returns whether the incident moved, in the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, func, select

from bot.incidents import timeline
from bot.incidents.timeline import Because
from bot.outbox.queue import INFORMATIONAL, enqueue_root_update
from bot.store.models import Alert, Incident, IncidentStatus, OutboxPriority
from bot.store.types import utcnow
from bot.summary.requests import request_summary


def resolve(
    session: Session,
    incident: Incident,
    at: datetime,
    because: Because,
    *,
    requested_by: str | None = None,
    redraw: bool = True,
    priority: OutboxPriority = INFORMATIONAL,
) -> bool:
    """Resolve ``incident`` as of ``at``; False (nothing written) when it already is."""
    assert incident.id is not None
    if incident.status == IncidentStatus.RESOLVED:
        return False
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = at
    incident.updated_at = utcnow()
    session.add(incident)
    timeline.record(session, incident.id, because, at)
    request_summary(session, incident, final=True, requested_by=requested_by)
    if redraw:
        enqueue_root_update(session, incident, priority=priority)
    return True


def resolve_if_all_alerts_resolved(session: Session, incident: Incident, now: datetime) -> bool:
    """Resolve ``incident`` as of its last alert's end when none of its alerts still fires
    (every source that stores alerts ends its incidents this way); the caller redraws the root."""
    if incident.status == IncidentStatus.RESOLVED:
        return False
    firing = session.exec(
        select(Alert.id).where(Alert.incident_id == incident.id, Alert.status == "firing")
    ).first()
    if firing is not None:
        return False
    last_end = session.exec(
        select(func.max(Alert.ends_at)).where(Alert.incident_id == incident.id)
    ).one()
    return resolve(
        session,
        incident,
        min(last_end or now, now),
        Because("incident_resolved", "All alerts resolved"),
        redraw=False,
    )
