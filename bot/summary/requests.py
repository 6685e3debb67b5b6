"""Asking for an incident's summary, inside the caller's transaction.

Resolving an incident (every way it can happen: the last alert resolved, PagerDuty, ``/ops
resolve``) asks for the final summary; ``/ops summary`` asks for one at any time. Asking only
marks the row ``queued`` and bumps its generation: the summary worker writes the template at once
and queues it for the thread, then (with an LLM) the narrative, which replaces it when ready. An
older generation's LLM answer is thrown away.
"""

from __future__ import annotations

from sqlmodel import Session, select

from bot.store.models import Incident
from bot.store.summary_models import IncidentSummary, SummaryState
from bot.store.types import utcnow


def summary_of(session: Session, incident_id: int | None) -> IncidentSummary | None:
    """The incident's summary row, if one was ever asked for."""
    return session.exec(
        select(IncidentSummary).where(IncidentSummary.incident_id == incident_id)
    ).first()


def request_summary(
    session: Session, incident: Incident, *, final: bool, requested_by: str | None = None
) -> IncidentSummary:
    assert incident.id is not None
    now = utcnow()
    summary = summary_of(session, incident.id)
    if summary is None:
        summary = IncidentSummary(incident_id=incident.id, created_at=now)
    else:
        summary.generation += 1
        if final and not summary.final:
            # The final summary is a new reply at the bottom of the thread; the "so far" one
            # posted earlier stays where it was.
            summary.message_ts = None
    summary.state = SummaryState.QUEUED
    summary.final = final
    summary.requested_by = requested_by
    summary.updated_at = now
    session.add(summary)
    return summary
