"""The one way an incident is acknowledged, whoever does it: PagerDuty or a person (``/ops
ack``).

The first acknowledgement is the one that counts, whenever it arrives; only a firing incident
changes status (a resolved one stays resolved). Each acknowledgement is on the timeline, and
the root is redrawn unless the caller does it (at ``priority``: interactive when a person is
waiting to see it).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.incidents import timeline
from bot.incidents.timeline import Because
from bot.outbox.queue import INFORMATIONAL, enqueue_root_update
from bot.store.models import Incident, IncidentStatus, OutboxPriority
from bot.store.types import utcnow


def acknowledge(
    session: Session,
    incident: Incident,
    at: datetime,
    because: Because,
    *,
    redraw: bool = True,
    priority: OutboxPriority = INFORMATIONAL,
) -> bool:
    """Record the acknowledgement as of ``at``; True when the incident's status moved."""
    assert incident.id is not None
    if incident.acknowledged_at is None or at < incident.acknowledged_at:
        incident.acknowledged_at = at
    moved = incident.status == IncidentStatus.FIRING
    if moved:
        incident.status = IncidentStatus.ACKNOWLEDGED
    incident.updated_at = utcnow()
    session.add(incident)
    timeline.record(session, incident.id, because, at)
    if redraw:
        enqueue_root_update(session, incident, priority=priority)
    return moved
