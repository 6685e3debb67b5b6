"""Everything a post-incident summary says, gathered once, before anything is rendered.

``gather(session, incident_id, catalog, prom=None, now=None)`` reads the incident, its alerts,
timeline, enrichment, action / playbook / job runs and the service's model deploys, asks
Prometheus for prediction volume when the catalog has a ``volume`` signal, and returns one
``SummaryFacts`` (its shape is in ``model.py``). Each fact keeps the ids of the timeline events
it came from (``cites``), so a renderer can say where every line comes from. Nothing here
formats text for a reader.

Where each fact comes from:

- phases: ``bot.incidents.phases.phases_of``; each phase cites the event that marks it (the
  first ``alert_firing`` or ``incident_opened``, the first acknowledgement, the mitigating
  run's ``action_succeeded``, the first resolution event);
- suspects, unavailable sources and the first metric deviation: the enrichment rows
  (``enrichment_view``), citing the latest ``enrichment`` event;
- model versions: deploy events of kind ``model`` for the incident's services, per environment
  the last one at or before the start plus any during the incident (no timeline event: the
  deploy table is the source);
- prediction volume: each catalog signal with ``volume: true``, integrated over
  ``[alerted_at, resolved_at or now]`` (see ``prediction_volume``); a failed query is a fact too;
- confirmed cause and follow-ups: people's notes starting ``cause:`` / ``root cause:`` and
  ``follow-up:`` / ``todo:`` / ``action item:`` (``bot.incidents.follow_ups.FOLLOW_UP``; each
  with its tracked item, when the note made one), plus follow-ups derived from the facts.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from bot.catalog.mapping import service_name
from bot.catalog.model import Catalog
from bot.incidents.follow_ups import FOLLOW_UP, of_incident
from bot.incidents.phases import phases_of
from bot.incidents.queries import alerts_of, timeline_of
from bot.incidents.views import enrichment_view
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Deployment, Incident, TimelineEvent
from bot.store.run_models import ActionRun, PlaybookRun, RunStatus
from bot.store.types import utcnow
from bot.summary.model import (
    ACK_KINDS,
    FIRING_KINDS,
    NOTE_KIND,
    OPENED_KINDS,
    RESOLVE_KINDS,
    ActionFact,
    AlertFact,
    Deviation,
    Event,
    FollowUp,
    IncidentFacts,
    JobFact,
    ModelVersion,
    Note,
    PhaseCites,
    PlaybookFact,
    SummaryFacts,
    SuspectFact,
    Tracked,
    Unavailable,
    Volume,
)
from bot.summary.words import human

if TYPE_CHECKING:
    from bot.clients.prometheus import PromClient


log = logging.getLogger(__name__)

TOP_SUSPECTS = 3
# An alert that fired this long after its signal first deviated is worth a follow-up.
DETECT_LAG_FOLLOW_UP = timedelta(minutes=5)
# query_range for prediction volume: about this many points, never finer than MIN_STEP_S.
VOLUME_POINTS = 300
MIN_STEP_S = 15.0

_CAUSE = re.compile(r"^\s*(?:root\s+cause|cause)\s*:\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)


def gather(
    session: Session,
    incident_id: int,
    catalog: Catalog,
    prom: PromClient | None = None,
    now: datetime | None = None,
) -> SummaryFacts:
    """Everything the summary of ``incident_id`` says (``LookupError`` if there is none).

    ``prom`` is anything with ``PromClient.query_range``'s signature; without it, or without a
    ``volume`` signal in the catalog, prediction volume is left out. ``now`` ends the window of
    a still-open incident (default: the current time).
    """
    incident = session.get(Incident, incident_id)
    if incident is None or incident.id is None:
        raise LookupError(f"no incident #{incident_id}")
    now = (now or utcnow()).astimezone(UTC)
    phases = phases_of(session, incident)
    start, end = phases.alerted_at, phases.resolved_at or now
    timeline = tuple(_event(e) for e in timeline_of(session, incident_id))
    alerts = alerts_of(session, incident_id)
    services = _unique([incident.service, *(service_name(a.labels, catalog) for a in alerts)])
    view = enrichment_view(session, incident_id)
    enrichment_cites = _last(timeline, ("enrichment",))
    actions = _actions(session, incident_id, timeline)
    notes = [e for e in timeline if e.kind == NOTE_KIND]
    confirmed = tuple(_notes(notes, _CAUSE))
    facts = SummaryFacts(
        incident=IncidentFacts(
            id=incident.id,
            title=incident.title,
            status=incident.status,
            severity=incident.severity,
            service=incident.service,
            source=incident.source,
            opened_at=incident.opened_at,
            acknowledged_at=incident.acknowledged_at,
            resolved_at=incident.resolved_at,
            runbook_url=incident.runbook_url,
            lead=incident.lead,
        ),
        now=now,
        phases=phases,
        phase_cites=PhaseCites(),
        timeline=timeline,
        alerts=tuple(
            AlertFact(
                alertname=a.alertname or a.fingerprint,
                status=a.status,
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                summary=a.annotations.get("summary") or a.annotations.get("description") or "",
                labels=dict(a.labels),
                annotations=dict(a.annotations),
            )
            for a in alerts
        ),
        services=services,
        model_versions=tuple(_model_versions(session, services, catalog, start, end)),
        volumes=tuple(_volumes(prom, services, catalog, start, end)),
        enrichment=enrichment_cites,
        suspects=tuple(
            SuspectFact(
                rank=i,
                kind=str(s.get("kind") or ""),
                ref=str(s.get("ref") or ""),
                reason=str(s.get("reason") or s.get("ref") or ""),
                score=s.get("score") if isinstance(s.get("score"), int | float) else None,
                cites=enrichment_cites,
            )
            for i, s in enumerate(view["suspects"][:TOP_SUSPECTS], 1)
            if isinstance(s, dict)
        ),
        deviation=_deviation(view["enrichment"], enrichment_cites),
        unavailable=tuple(
            Unavailable(source, str(r.get("reason") or "no reason given"), enrichment_cites)
            for source, r in view["enrichment"].items()
            if r.get("status") == "unavailable"
        ),
        confirmed=confirmed,
        actions=actions,
        playbooks=_playbooks(session, incident_id, timeline),
        jobs=_jobs(session, incident_id, timeline),
        follow_ups=(),
    )
    facts = _with_phase_cites(facts)
    tracked = {row.event_id: Tracked.of(row) for row in of_incident(session, incident_id)}
    return _with_follow_ups(facts, notes, tracked)


def prediction_volume(points: Sequence[tuple[float, float]], end: datetime, step_s: float) -> float:
    """Predictions served, from per-second rate samples ``(unix s, value)`` a step apart.

    Each sample counts for one step, or until the next sample or ``end`` when that is sooner:
    a left Riemann sum. A gap in the data counts as nothing served, so with missing samples
    the figure is a lower bound.
    """
    total = 0.0
    last = end.timestamp()
    for i, (t, rate) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else last
        width = max(0.0, min(step_s, until - t))
        total += max(rate, 0.0) * width
    return total


# ─── helpers ────────────────────────────────────────────────────────────────────────────────


def _event(e: TimelineEvent) -> Event:
    assert e.id is not None
    return Event(id=e.id, at=e.at, kind=e.kind, actor=e.actor, text=e.text, data=dict(e.data))


def _unique(names: Iterable[str | None]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        if name and name not in out:
            out.append(name)
    return tuple(out)


def _first(timeline: Sequence[Event], kinds: Sequence[str]) -> tuple[int, ...]:
    return next(((e.id,) for e in timeline if e.kind in kinds), ())


def _last(timeline: Sequence[Event], kinds: Sequence[str]) -> tuple[int, ...]:
    return next(((e.id,) for e in reversed(timeline) if e.kind in kinds), ())


def _refers(timeline: Sequence[Event], key: str, run_id: int | None) -> tuple[int, ...]:
    return tuple(e.id for e in timeline if run_id is not None and e.data.get(key) == run_id)


def _notes(notes: Sequence[Event], prefix: re.Pattern[str]) -> Iterable[Note]:
    for e in notes:
        match = prefix.match(e.text)
        if match and match.group("rest").strip():
            yield Note(e.id, e.at, e.actor, match.group("rest").strip())


def _model_versions(
    session: Session, services: Sequence[str], catalog: Catalog, start: datetime, end: datetime
) -> Iterable[ModelVersion]:
    for service in services:
        entry = catalog.get(service)
        model = (entry.model if entry else None) or service
        rows = session.exec(
            select(Deployment)
            .where(
                Deployment.service == service,
                Deployment.kind == "model",
                col(Deployment.deployed_at) <= end,
            )
            .order_by(col(Deployment.deployed_at), col(Deployment.id))
        ).all()
        for environment in _unique(r.environment for r in rows):
            mine = [r for r in rows if r.environment == environment]
            before = [r for r in mine if r.deployed_at <= start][-1:]
            during = [r for r in mine if r.deployed_at > start]
            for row in [*before, *during]:
                yield ModelVersion(
                    service=service,
                    model=model,
                    version=row.version,
                    environment=environment,
                    deployed_at=row.deployed_at,
                    actor=row.actor,
                    during=row.deployed_at > start,
                )


def _volumes(
    prom: Any, services: Sequence[str], catalog: Catalog, start: datetime, end: datetime
) -> Iterable[Volume]:
    if prom is None or end <= start:
        return
    seconds = (end - start).total_seconds()
    step_s = max(MIN_STEP_S, float(math.ceil(seconds / VOLUME_POINTS)))
    for service in services:
        entry = catalog.get(service)
        for signal in entry.signals if entry else []:
            if not signal.volume:
                continue
            try:
                points = prom.query_range(signal.query, start, end, step_s)
                served = prediction_volume(points, end, step_s) if points else None
                error = None if points else "no samples in the window"
            except Exception as exc:  # any failure is reported, never fails the summary
                log.warning("prediction volume of %s (%s) failed: %s", service, signal.name, exc)
                served, error = None, str(getattr(exc, "detail", None) or exc)[:300]
            yield Volume(signal.name, service, start, end, predictions=served, error=error)


def _deviation(enrichment: dict[str, Any], cites: tuple[int, ...]) -> Deviation | None:
    metrics = enrichment.get("metrics") or {}
    found: list[tuple[datetime, str]] = []
    for signal in (metrics.get("data") or {}).get("signals") or []:
        raw = signal.get("first_deviation_at") if isinstance(signal, dict) else None
        if isinstance(raw, str):
            try:
                when = datetime.fromisoformat(raw)
            except ValueError:
                continue
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            found.append((when, str(signal.get("name") or "?")))
    if not found:
        return None
    at, name = min(found)
    return Deviation(name, at, cites)


def _actions(
    session: Session, incident_id: int, timeline: Sequence[Event]
) -> tuple[ActionFact, ...]:
    runs = session.exec(
        select(ActionRun)
        .where(ActionRun.incident_id == incident_id)
        .order_by(col(ActionRun.created_at), col(ActionRun.id))
    ).all()
    out = []
    for run in runs:
        assert run.id is not None
        cites = _refers(timeline, "action_run_id", run.id)
        approved = [e for e in timeline if e.id in cites and e.kind == "action_approved"]
        final = run.status in RunStatus.FINAL
        if run.status == RunStatus.SUCCEEDED:
            outcome = str(run.result.get("summary") or "") or None
        else:
            outcome = run.error or (str(run.result.get("summary") or "") or None)
        out.append(
            ActionFact(
                run_id=run.id,
                action=run.action,
                status=run.status,
                dry_run=run.dry_run,
                requested_by=run.requested_by,
                requested_at=run.created_at,
                approver=run.approver,
                approved_at=approved[0].at if approved else None,
                finished_at=run.updated_at if final else None,
                plan=str(run.plan.get("summary") or ""),
                outcome=outcome,
                playbook_run_id=run.playbook_run_id,
                cites=cites,
            )
        )
    return tuple(out)


def _playbooks(
    session: Session, incident_id: int, timeline: Sequence[Event]
) -> tuple[PlaybookFact, ...]:
    runs = session.exec(
        select(PlaybookRun)
        .where(PlaybookRun.incident_id == incident_id)
        .order_by(col(PlaybookRun.created_at), col(PlaybookRun.id))
    ).all()
    return tuple(
        PlaybookFact(
            run_id=run.id,
            playbook=run.playbook,
            status=run.status,
            dry_run=run.dry_run,
            requested_by=run.requested_by,
            started_at=run.created_at,
            cites=_refers(timeline, "playbook_run_id", run.id),
        )
        for run in runs
        if run.id is not None
    )


def _jobs(session: Session, incident_id: int, timeline: Sequence[Event]) -> tuple[JobFact, ...]:
    runs = session.exec(
        select(JobRun)
        .where(JobRun.incident_id == incident_id)
        .order_by(col(JobRun.submitted_at), col(JobRun.id))
    ).all()
    return tuple(
        JobFact(
            run_id=run.id,
            kind=run.kind,
            template=run.template,
            status=run.status,
            requested_by=run.requested_by,
            submitted_at=run.submitted_at,
            ended_at=run.ended_at if run.status in JobStatus.FINAL else None,
            message=run.message,
            log_tail=run.log_tail,
            cites=_refers(timeline, "job_run_id", run.id),
        )
        for run in runs
        if run.id is not None
    )


def _with_phase_cites(facts: SummaryFacts) -> SummaryFacts:
    timeline = facts.timeline
    alerted = _first(timeline, FIRING_KINDS) or _first(timeline, OPENED_KINDS)
    mitigation = facts.mitigation()
    mitigated: tuple[int, ...] = ()
    if mitigation is not None:
        done = [i for i in mitigation.cites if _kind(timeline, i) == "action_succeeded"]
        mitigated = tuple(done[:1]) or mitigation.cites[-1:]
    detected = facts.deviation.cites if facts.deviation else ()
    cites = PhaseCites(
        alerted=alerted,
        detected=tuple(sorted({*detected, *alerted})),
        acknowledged=_first(timeline, ACK_KINDS) if facts.phases.acknowledged_at else (),
        mitigated=mitigated,
        resolved=_first(timeline, RESOLVE_KINDS) if facts.phases.resolved_at else (),
    )
    return replace(facts, phase_cites=cites)


def _kind(timeline: Sequence[Event], event_id: int) -> str | None:
    return next((e.kind for e in timeline if e.id == event_id), None)


def _with_follow_ups(
    facts: SummaryFacts, notes: Sequence[Event], tracked: Mapping[int | None, Tracked]
) -> SummaryFacts:
    """People's follow-up notes first (with the item each is, when tracked), then what the
    facts call for, in a fixed order."""
    out = [
        FollowUp(n.text, (n.event_id,), n.actor, tracked.get(n.event_id))
        for n in _notes(notes, FOLLOW_UP)
    ]
    cites = facts.phase_cites
    if facts.phases.mitigated_at is None:
        if facts.final:
            text = (
                "No remediation recorded: the incident resolved without a successful "
                "remediating action in opsbot; record what fixed it."
            )
        else:
            text = "No remediation recorded yet: no remediating action has succeeded so far."
        out.append(FollowUp(text, cites.resolved or cites.alerted))
    if facts.final and not facts.confirmed:
        out.append(
            FollowUp(
                'Confirm the cause: add a note starting with "cause:" (it is not confirmed).',
                facts.suspects[0].cites if facts.suspects else (),
            )
        )
    if facts.deviation is not None:
        lag = facts.phases.alerted_at - facts.deviation.at
        if lag >= DETECT_LAG_FOLLOW_UP:
            out.append(
                FollowUp(
                    f"Alert lag: the alert fired {human(lag)} after {facts.deviation.signal} "
                    "first deviated; review the alert rule.",
                    tuple(sorted({*facts.deviation.cites, *cites.alerted})),
                )
            )
    for gap in facts.unavailable:
        out.append(
            FollowUp(
                f"Enrichment source {gap.source} was unavailable ({gap.reason}); fix it so the "
                "next incident has that evidence.",
                gap.cites,
            )
        )
    for action in facts.actions:
        if action.status == RunStatus.FAILED:
            out.append(
                FollowUp(
                    f"{action.action} (run {action.run_id}) failed: "
                    f"{action.outcome or 'no error recorded'}; find out why.",
                    action.cites,
                )
            )
    for job in facts.jobs:
        if job.status == JobStatus.FAILED:
            out.append(
                FollowUp(
                    f"{job.kind} job {job.run_id} ({job.template}) failed: "
                    f"{job.message or 'no message'}; find out why.",
                    job.cites,
                )
            )
    return replace(facts, follow_ups=tuple(out))
