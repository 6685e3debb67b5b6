"""Enrichment's database steps: what to enrich, the offer as soon as the suspects are ranked,
and saving the outcome in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, insert
from sqlmodel import Session, col, select

from bot.enrich.suspects import likely_cause
from bot.incidents import timeline
from bot.outbox.queue import INTERACTIVE, enqueue_file, enqueue_reply, enqueue_root_update
from bot.render.enrichment import enrichment_reply
from bot.store.models import Enrichment, EnrichmentStatus, Incident, fit, table
from bot.store.tx import lock_for, run_tx
from bot.store.types import utcnow

if TYPE_CHECKING:
    from bot.enrich.outcome import Outcome


@dataclass(frozen=True)
class Context:
    incident_id: int
    service: str | None
    alert_start: datetime
    title: str
    labels: dict[str, str] = field(default_factory=dict)


def load_context(engine: Engine, incident_id: int) -> Context | None:
    """The incident to enrich, or None when it is gone or already enriched."""
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        if incident is None or incident.enrichment_state != EnrichmentStatus.PENDING:
            return None
        return Context(
            incident_id, incident.service, incident.opened_at, incident.title, dict(incident.labels)
        )


def pending(engine: Engine, limit: int = 500) -> list[int]:
    """Incidents still waiting for enrichment (e.g. the bot stopped half-way), oldest first."""
    with Session(engine) as session:
        return [
            i
            for i in session.exec(
                select(Incident.id)
                .where(Incident.enrichment_state == EnrichmentStatus.PENDING)
                .order_by(col(Incident.id))
                .limit(limit)
            ).all()
            if i is not None
        ]


def offer(engine: Engine, ctx: Context, outcome: Outcome) -> bool:
    """Put the likely cause and the playbooks that fit on the root as soon as the suspects are
    ranked, before the chart is drawn: the root is redrawn at interactive priority (the
    on-call is waiting for the button). True when a redraw was queued; nothing is written
    when the incident is gone, already enriched, or already shows them (a rerun)."""
    cause = likely_cause(outcome.suspects)
    if not cause and not outcome.playbooks:
        return False

    def work(session: Session) -> bool:
        lock_for(session, f"enrich:{ctx.incident_id}")
        incident = session.get(Incident, ctx.incident_id)
        if incident is None or incident.enrichment_state != EnrichmentStatus.PENDING:
            return False
        if (incident.likely_cause, incident.playbooks) == (cause, list(outcome.playbooks)):
            return False
        incident.likely_cause = cause
        incident.playbooks = list(outcome.playbooks)
        incident.updated_at = utcnow()
        session.add(incident)
        enqueue_root_update(session, incident, priority=INTERACTIVE)
        return True

    return run_tx(engine, work)


def save(engine: Engine, ctx: Context, outcome: Outcome) -> bool:
    """Store every source's result and queue the thread messages, once: False if another run
    saved this incident's enrichment first."""

    def work(session: Session) -> bool:
        lock_for(session, f"enrich:{ctx.incident_id}")
        incident = session.get(Incident, ctx.incident_id)
        if incident is None or incident.enrichment_state != EnrichmentStatus.PENDING:
            return False
        now = utcnow()
        shown = _on_root(incident)
        session.execute(delete(table(Enrichment)).where(col(Enrichment.incident_id) == incident.id))
        session.execute(
            insert(table(Enrichment)),
            [
                {
                    "incident_id": incident.id,
                    "source": r.source,
                    "status": r.status,
                    "reason": r.reason,
                    "data": r.data,
                    "duration_ms": r.duration_ms,
                    "finished_at": now,
                }
                for r in outcome.results.values()
            ],
        )
        cause = likely_cause(outcome.suspects)
        incident.likely_cause = cause
        incident.playbooks = list(outcome.playbooks)
        oncall = outcome.results.get("oncall")
        named = oncall.data.get("name") if oncall is not None and oncall.status == "ok" else None
        if named:
            incident.oncall = fit(Incident, "oncall", str(named))
        incident.enrichment_state = EnrichmentStatus.DONE
        incident.updated_at = now
        session.add(incident)
        unavailable = {
            r.source: r.reason for r in outcome.results.values() if r.status == "unavailable"
        }
        top = outcome.suspects[0].reason if outcome.suspects else "no changes before the alert"
        timeline.add(
            session,
            ctx.incident_id,
            "enrichment",
            f"Enrichment: {len(outcome.changes)} change(s); top suspect: {top}",
            at=now,
            data={
                "suspects": [s.as_json() for s in outcome.suspects[:3]],
                "unavailable": unavailable,
            },
        )
        text, blocks = enrichment_reply(incident, outcome)
        enqueue_reply(session, incident, text, blocks)
        chart = outcome.results.get("chart")
        if outcome.chart is not None and chart is not None and chart.status == "ok":
            enqueue_file(
                session,
                incident,
                str(chart.data["filename"]),
                outcome.chart,
                title=f"#{ctx.incident_id} {ctx.title} — metrics and changes"[:250],
                alt_text=str(chart.data["alt_text"]),
            )
        if _on_root(incident) != shown:  # the cause and the offer went up with ``offer``
            enqueue_root_update(session, incident)
        return True

    return run_tx(engine, work)


def _on_root(incident: Incident) -> tuple[str | None, list[str], str | None]:
    """What enrichment shows on the root: the likely cause, the playbooks offered, on call."""
    return incident.likely_cause, list(incident.playbooks), incident.oncall
