"""The triage agent's tools: read-only, each a small function ``(scope, args) -> result``.

Every result is a dict ``{"status": "ok" | "no_data" | "error", ..., "query": <what it read>}``
(an error carries ``"error"``: what went wrong, in words the model can act on). ``call`` is the
one way in: an unknown tool, arguments that are not a JSON object or that do not validate
(pydantic, ``extra="forbid"``) and any failure of the read itself come back as an error result,
never as an exception.

No tool writes. ``metric`` runs only the service's catalog signals, by name, never PromQL the
model wrote; ``propose_playbook`` only notes a playbook the incident already offers
(``incident.playbooks``) in ``scope.proposals``, for the answer to show as a button. It starts
nothing: a person clicks, and the playbook's own steps ask for approval.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.changes.deployments import recent
from bot.enrich.change_sources import change_json, data_change_events, deploy_changes
from bot.enrich.metrics import summarize
from bot.enrich.types import SignalSeries
from bot.errors import ExternalServiceError
from bot.incidents.queries import alerts_of, timeline_of
from bot.incidents.views import enrichment_view
from bot.lineage.queries import data_changes
from bot.store.job_models import JobRun
from bot.store.models import Incident, IncidentStatus
from bot.store.types import utcnow
from bot.text.untrusted import cap

if TYPE_CHECKING:
    from bot.clients.prometheus import PromClient


log = logging.getLogger(__name__)

Result = dict[str, Any]

SERVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SIGNAL_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
TEXT_MAX = 500  # one alert annotation, timeline text, job message
LOG_TAIL_MAX = 1500
MAX_ALERTS = 20
MAX_CHANGES = 30
MAX_JOBS = 5
METRIC_POINTS = 120  # points asked of Prometheus per window
METRIC_SAMPLES = 24  # points handed to the model


@dataclass(frozen=True)
class Proposal:
    name: str
    reason: str


@dataclass(frozen=True)
class TriageScope:
    """What the tools may read for one question: one incident, the catalog, Prometheus."""

    engine: Engine
    catalog: Catalog
    prom: PromClient | None  # None when not configured
    incident_id: int
    now: Callable[[], datetime] = utcnow
    proposals: list[Proposal] = field(default_factory=list)  # propose_playbook's notes


# -- arguments ---------------------------------------------------------------------------------


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimelineArgs(Args):
    limit: int = Field(40, ge=1, le=100, description="how many of the latest timeline events")


class SuspectsArgs(Args):
    limit: int = Field(5, ge=1, le=10, description="how many of the ranked suspects")


class ChangesArgs(Args):
    service: str = Field(pattern=SERVICE_NAME, description="service name, as in the catalog")
    since_hours: int = Field(24, ge=1, le=168, description="how far back, in hours (at most 7 d)")


class MetricArgs(Args):
    service: str = Field(pattern=SERVICE_NAME, description="service name, as in the catalog")
    signal: str = Field(pattern=SIGNAL_NAME, description="name of one of its catalog signals")
    window_minutes: int = Field(60, ge=5, le=360, description="minutes up to now (at most 6 h)")


class DeployHistoryArgs(Args):
    service: str = Field(pattern=SERVICE_NAME, description="service name, as in deploy events")
    limit: int = Field(10, ge=1, le=20, description="how many of the latest deploys")


class JobStatusArgs(Args):
    job_id: int | None = Field(
        None, ge=1, description="an opsbot job number; leave out for this incident's jobs"
    )


class ProposeArgs(Args):
    name: str = Field(min_length=1, max_length=128, description="a playbook this incident offers")
    reason: str = Field(
        min_length=1, max_length=500, description="one sentence: the evidence it fits"
    )


# -- results -----------------------------------------------------------------------------------


def ok(query: str, **data: Any) -> Result:
    return {"status": "ok", **data, "query": query}


def no_data(query: str, why: str, **data: Any) -> Result:
    return {"status": "no_data", "reason": why, **data, "query": query}


def error(query: str, why: str) -> Result:
    return {"status": "error", "error": why, "query": query}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


def _text(value: str | None, limit: int = TEXT_MAX) -> str | None:
    return cap(value, limit) if value is not None else None


# -- the tools ---------------------------------------------------------------------------------


def incident_timeline(scope: TriageScope, args: TimelineArgs) -> Result:
    query = f"incident #{scope.incident_id}: facts, alerts, last {args.limit} timeline events"
    with Session(scope.engine) as session:
        incident = session.get(Incident, scope.incident_id)
        if incident is None:
            return error(query, "the incident is gone")
        alerts = alerts_of(session, scope.incident_id)
        events = timeline_of(session, scope.incident_id)
    shown = events[-args.limit :]
    return ok(
        query,
        incident={
            "id": incident.id,
            "status": incident.status,
            "title": _text(incident.title),
            "severity": incident.severity,
            "service": incident.service,
            "labels": {k: _text(v, 200) for k, v in incident.labels.items()},
            "opened_at": _iso(incident.opened_at),
            "acknowledged_at": _iso(incident.acknowledged_at),
            "resolved_at": _iso(incident.resolved_at),
            "likely_cause": _text(incident.likely_cause),
            "playbooks_offered": list(incident.playbooks),
        },
        alerts=[
            {
                "alertname": a.alertname,
                "status": a.status,
                "starts_at": _iso(a.starts_at),
                "ends_at": _iso(a.ends_at),
                "labels": {k: _text(v, 200) for k, v in a.labels.items()},
                "annotations": {k: _text(v) for k, v in a.annotations.items()},
            }
            for a in alerts[:MAX_ALERTS]
        ],
        alerts_total=len(alerts),
        timeline=[
            {"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "text": _text(e.text)}
            for e in shown
        ],
        timeline_total=len(events),
    )


def suspects(scope: TriageScope, args: SuspectsArgs) -> Result:
    query = f"incident #{scope.incident_id}: enrichment (ranked suspects, metrics)"
    with Session(scope.engine) as session:
        view = enrichment_view(session, scope.incident_id)
    sources: dict[str, Any] = view["enrichment"]
    if not sources:
        return no_data(query, "enrichment has not run for this incident (yet)")
    metrics = sources.get("metrics") or {}
    return ok(
        query,
        suspects=[
            {k: s.get(k) for k in ("kind", "ref", "service", "at", "score", "reason", "relation")}
            for s in view["suspects"][: args.limit]
        ],
        suspects_total=len(view["suspects"]),
        lookback_min=(sources.get("suspects") or {}).get("data", {}).get("lookback_min"),
        metrics={
            "status": metrics.get("status", "not_run"),
            "reason": metrics.get("reason"),
            "signals": (metrics.get("data") or {}).get("signals", []),
            "errors": (metrics.get("data") or {}).get("errors", {}),
        },
        sources={n: {"status": s["status"], "reason": s["reason"]} for n, s in sources.items()},
    )


def changes(scope: TriageScope, args: ChangesArgs) -> Result:
    until = scope.now()
    since = until - timedelta(hours=args.since_hours)
    query = (
        f"deploy events and lineage data changes of {args.service} "
        f"from {_iso(since)} to {_iso(until)}"
    )
    entry = scope.catalog.get(args.service)
    with Session(scope.engine) as session:
        rows = recent(session, args.service, since=since, until=until, limit=MAX_CHANGES)
        found = (
            data_changes(session, entry.datasets, since, until, limit=MAX_CHANGES)
            if entry is not None and entry.datasets
            else []
        )
    listed: list[dict[str, Any]] = [
        change_json(c) for c in deploy_changes(rows, args.service, entry.model if entry else None)
    ]
    for change, event in zip(found, data_change_events(found, args.service), strict=True):
        listed.append({**change_json(event), "error": _text(change.error)})
    listed.sort(key=lambda c: str(c["at"]), reverse=True)
    notes = []
    if entry is None:
        notes.append(f"{args.service} is not in the catalog: deploy events only")
    elif not entry.datasets:
        notes.append(f"no datasets in the catalog for {args.service}: deploy events only")
    if not listed:
        return no_data(query, "no deploys or data changes in that window", notes=notes)
    return ok(query, changes=listed[:MAX_CHANGES], total=len(listed), notes=notes)


def metric(scope: TriageScope, args: MetricArgs) -> Result:
    entry = scope.catalog.get(args.service)
    query = f"catalog signal {args.signal} of {args.service}, last {args.window_minutes} min"
    if entry is None:
        known = ", ".join(sorted(scope.catalog.services)) or "none"
        return error(query, f"that service is not in the catalog; catalog services: {known}")
    signal = next((s for s in entry.signals if s.name == args.signal), None)
    if signal is None:
        known = ", ".join(s.name for s in entry.signals) or "none"
        return error(query, f"no such signal for {entry.name}; its catalog signals: {known}")
    if scope.prom is None:
        return error(query, "Prometheus is not configured")
    end = scope.now()
    start = end - timedelta(minutes=args.window_minutes)
    step = max(1.0, args.window_minutes * 60 / METRIC_POINTS)
    query = f"{signal.query} from {_iso(start)} to {_iso(end)}, step {step:g} s"
    try:
        points: list[tuple[float, float]] = scope.prom.query_range(signal.query, start, end, step)
    except ExternalServiceError as exc:
        return error(query, cap(str(exc), TEXT_MAX))
    if not points:
        return no_data(query, "the query matched no series in that window")
    values = [v for _, v in points]
    result = ok(
        query,
        signal=signal.name,
        unit=signal.unit,
        bad_direction=signal.bad,
        points=len(points),
        first=values[0],
        last=values[-1],
        min=min(values),
        max=max(values),
        mean=sum(values) / len(values),
        samples=[[_iso(datetime.fromtimestamp(t, tz=end.tzinfo)), v] for t, v in _thin(points)],
    )
    with Session(scope.engine) as session:
        incident = session.get(Incident, scope.incident_id)
    opened = incident.opened_at if incident is not None else None
    if opened is not None and start < opened <= end:
        series = SignalSeries(signal.name, signal.query, points, unit=signal.unit, bad=signal.bad)
        summary = summarize(series, opened)
        result["around_alert"] = {
            "alert_start": _iso(opened),
            "baseline": summary.baseline,
            "now": summary.now,
            "change_pct": summary.change_pct,
            "deviated": summary.deviated,
        }
    return result


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= METRIC_SAMPLES:
        return list(points)
    stride = len(points) / METRIC_SAMPLES
    picked = [points[int(i * stride)] for i in range(METRIC_SAMPLES - 1)]
    return [*picked, points[-1]]


def deploy_history(scope: TriageScope, args: DeployHistoryArgs) -> Result:
    query = f"the latest {args.limit} deploy events of {args.service}"
    with Session(scope.engine) as session:
        rows = recent(session, args.service, limit=args.limit)
    if not rows:
        return no_data(query, "no deploy events recorded for that service")
    return ok(
        query,
        deploys=[
            {
                "kind": r.kind,
                "version": r.version,
                "environment": r.environment,
                "commit": r.commit,
                "actor": r.actor,
                "url": r.url,
                "deployed_at": _iso(r.deployed_at),
            }
            for r in rows
        ],
    )


def job_status(scope: TriageScope, args: JobStatusArgs) -> Result:
    with Session(scope.engine) as session:
        if args.job_id is not None:
            query = f"opsbot job #{args.job_id}"
            job = session.get(JobRun, args.job_id)
            jobs = [job] if job is not None else []
        else:
            query = f"the latest {MAX_JOBS} opsbot jobs of incident #{scope.incident_id}"
            jobs = list(
                session.exec(
                    select(JobRun)
                    .where(JobRun.incident_id == scope.incident_id)
                    .order_by(col(JobRun.id).desc())
                    .limit(MAX_JOBS)
                ).all()
            )
    if not jobs:
        return no_data(query, "no such job" if args.job_id else "no jobs for this incident")
    return ok(query, jobs=[_job(j) for j in jobs])


def _job(job: JobRun) -> dict[str, Any]:
    tail = job.log_tail or ""
    return {
        "id": job.id,
        "kind": job.kind,
        "template": job.template,
        "status": job.status,
        "ray_status": job.ray_status,
        "message": _text(job.message),
        "progress": job.progress,
        "manifest": _text(json.dumps(job.manifest, default=str), 800) if job.manifest else None,
        "log_tail": tail[-LOG_TAIL_MAX:] if tail else None,
        "requested_by": job.requested_by,
        "submitted_at": _iso(job.submitted_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
    }


def propose_playbook(scope: TriageScope, args: ProposeArgs) -> Result:
    query = f"the playbooks incident #{scope.incident_id} offers"
    with Session(scope.engine) as session:
        incident = session.get(Incident, scope.incident_id)
    offered = list(incident.playbooks) if incident is not None else []
    if incident is None or incident.status == IncidentStatus.RESOLVED:
        return error(query, "the incident is resolved: no playbook can be proposed")
    if args.name not in offered:
        listed = ", ".join(offered) or "none"
        return error(query, f"not a playbook this incident offers; offered: {listed}")
    if scope.proposals and scope.proposals[0].name != args.name:
        return error(query, f"one playbook per answer: {scope.proposals[0].name} is proposed")
    if not scope.proposals:
        scope.proposals.append(Proposal(args.name, args.reason))
    return ok(
        query,
        proposed=args.name,
        note="A button for it goes under your answer. Nothing was started: a person decides, "
        "and the playbook's steps ask for approval.",
    )


# -- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[Args]
    run: Callable[[TriageScope, Any], Result]
    label: str  # what its result holds, for the fence around it (≤ 40 characters)

    def spec(self) -> dict[str, Any]:
        """The OpenAI function tool."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "incident_timeline",
            "The incident's facts, its alerts (labels, annotations) and the latest timeline "
            "events (alerts, enrichment, Slack notes, playbook steps).",
            TimelineArgs,
            incident_timeline,
            "incident timeline: alerts and messages",
        ),
        Tool(
            "suspects",
            "The enrichment: changes before the alert ranked as suspects with their reasons, "
            "and each catalog signal's baseline before the alert vs now.",
            SuspectsArgs,
            suspects,
            "enrichment: suspects and metrics",
        ),
        Tool(
            "changes",
            "Deploys (code and model versions) and data changes (lineage) of a service in the "
            "last hours, newest first.",
            ChangesArgs,
            changes,
            "changes: deploys and lineage",
        ),
        Tool(
            "metric",
            "One of a service's catalog signals (named PromQL queries) over the last minutes: "
            "summary, samples, and baseline vs now around the alert.",
            MetricArgs,
            metric,
            "metric from prometheus",
        ),
        Tool(
            "deploy_history",
            "The latest deploy events of a service, as CI/CD reported them.",
            DeployHistoryArgs,
            deploy_history,
            "deploy history",
        ),
        Tool(
            "job_status",
            "An opsbot Ray job (training, batch scoring): status, message, progress, log tail. "
            "Without job_id: this incident's jobs.",
            JobStatusArgs,
            job_status,
            "job status and log tail",
        ),
        Tool(
            "propose_playbook",
            "Suggest one of the playbooks this incident offers, shown as a button under your "
            "answer. It runs nothing: a person clicks, and each step asks for approval.",
            ProposeArgs,
            propose_playbook,
            "playbook proposal",
        ),
    )
}


def specs() -> list[dict[str, Any]]:
    return [t.spec() for t in TOOLS.values()]


def call(scope: TriageScope, name: str, arguments: dict[str, Any] | None) -> Result:
    """Run one tool call of the model; every failure is an error result, never an exception."""
    tool = TOOLS.get(name)
    if tool is None:
        return error(
            "no tool was run",
            f"there is no tool of that name (you can only read); tools: {', '.join(TOOLS)}",
        )
    if arguments is None:
        return error(f"{name}: nothing was run", "the arguments are not a JSON object")
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        return error(f"{name}: nothing was run", "invalid arguments: " + _problems(exc))
    try:
        return tool.run(scope, args)
    except ExternalServiceError as exc:
        return error(describe(name, args), cap(str(exc), TEXT_MAX))
    except Exception as exc:  # a tool must never take the answer down
        log.exception("triage tool %s failed (incident %s)", name, scope.incident_id)
        return error(describe(name, args), f"the read failed ({type(exc).__name__})")


def describe(name: str, args: BaseModel) -> str:
    """A short, safe line for what a call read: ``metric fraud-scorer/p95_latency 60m``."""
    if isinstance(args, MetricArgs):
        return f"{name} {args.service}/{args.signal} {args.window_minutes}m"
    if isinstance(args, ChangesArgs):
        return f"{name} {args.service} {args.since_hours}h"
    if isinstance(args, DeployHistoryArgs):
        return f"{name} {args.service}"
    if isinstance(args, JobStatusArgs) and args.job_id is not None:
        return f"{name} #{args.job_id}"
    if isinstance(args, ProposeArgs):
        return name if re.fullmatch(SERVICE_NAME, args.name) else f"{name} (refused)"
    return name


def _problems(exc: ValidationError) -> str:
    """Where and what, without the input values (they may be anything the model wrote)."""
    parts = []
    for problem in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(re.sub(r"[^A-Za-z0-9_]", "", str(p))[:40] for p in problem["loc"])
        parts.append(f"{where or '(arguments)'}: {problem['msg']}")
    return "; ".join(parts)
