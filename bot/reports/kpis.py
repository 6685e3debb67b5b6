"""Reliability KPIs over a period ``[since, until)``, computed from what the store recorded.

Every figure is about the same period, and the report carries it (``since``, ``until``):

- **Incidents**: those whose ``opened_at`` is in ``[since, until)``, counted by service and by
  severity (a missing service or severity counts as ``"unknown"``).
- **Response times** of those incidents, from ``bot/incidents/phases.py`` (``phases_of``; its
  docstring defines the phases; every duration counts from the first alert):
  MTTD over incidents whose first deviation is known (``time_to_detect``), MTTA over those
  acknowledged (``time_to_acknowledge``), MTTM over those mitigated by a remediation
  (``time_to_mitigate``), MTTR over those resolved (``time_to_resolve``). Each is reported as
  ``n``, the median and the 90th percentile in seconds (rounded to the millisecond), as
  ``bot/reports/quantiles.py`` defines them.
- **Deploys**: ``Deployment`` rows whose ``deployed_at`` is in ``[since, until)``, every
  environment (incidents carry no environment to match a deploy's against), counted by service
  and kind (``code`` / ``model``).
- **Change failure rate**: a deploy *failed* when an incident on the same service (incident
  ``service`` equal to the deploy's; an incident without a service fails nothing) opened in
  ``(deployed_at, deployed_at + change_window]``; that incident may open after ``until``. The
  rate is failed / deploys, per service and overall; None without deploys. A deploy within
  ``change_window`` of the time the report was made may still fail later.
- **Rollbacks**: ``rollback_deployment`` action runs that succeeded, were not dry runs and not
  no-ops (as in phases.py), whose ``updated_at`` (when they finished) is in ``[since,
  until)``. The service is the catalog's for the run's ``namespace`` + ``deployment`` params
  (``bot/catalog/mapping.py``: as an alert with those labels), else the Deployment's name.
- **Top alerts**: over the alerts of the period's incidents, by ``alertname``: how many
  incidents it appeared in and how many occurrences (alert rows, one per fingerprint and
  start) it had; the 10 in most incidents, then most occurrences, ties by name.
- **Follow-ups still open**: tracked follow-ups (``bot/incidents/follow_ups.py``) made before
  ``until`` and not done by then, of any incident, whenever opened: how many, and the
  ``OPEN_FOLLOW_UPS_SHOWN`` oldest (number, incident, owner, age at ``until``).

- **The ML team's KPIs** (``bot/reports/ml_kpis.py``): drift monitoring coverage, pipeline
  success rate, data freshness adherence, lineage completeness and model deployment lead time.

Queries: one per table (incidents, alerts, deploys, action runs), two for the follow-ups,
plus ``phases_of`` per incident in the period (a few queries each), plus the ML KPIs' (seven).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.catalog.mapping import service_name
from bot.catalog.model import Catalog
from bot.incidents.follow_ups import open_at
from bot.incidents.phases import Phases, phases_of
from bot.reports.drift_coverage import NO_PROMETHEUS, RulesRead
from bot.reports.ml_kpis import MLKpis, ml_kpis
from bot.reports.quantiles import Durations, durations
from bot.store.models import Alert, Deployment, Incident
from bot.store.run_models import ActionRun, RunStatus
from bot.store.types import utcnow

UNKNOWN = "unknown"
ROLLBACK_ACTION = "rollback_deployment"
DEPLOY_KINDS = ("code", "model")
TOP_ALERTS = 10
OPEN_FOLLOW_UPS_SHOWN = 10
NO_ALERTNAME = "(no alertname)"


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseTimes:
    detect: Durations  # MTTD: first deviation → first alert, where the deviation is known
    acknowledge: Durations  # MTTA
    mitigate: Durations  # MTTM: → the first successful remediation
    resolve: Durations  # MTTR

    def as_json(self) -> dict[str, Any]:
        return {
            "mttd": self.detect.as_json(),
            "mtta": self.acknowledge.as_json(),
            "mttm": self.mitigate.as_json(),
            "mttr": self.resolve.as_json(),
        }


@dataclass(frozen=True)
class ServiceIncidents:
    service: str
    total: int
    by_severity: tuple[tuple[str, int], ...]  # severity name order


@dataclass(frozen=True)
class IncidentCounts:
    total: int
    by_service: tuple[ServiceIncidents, ...]  # most incidents first, then by name
    by_severity: tuple[tuple[str, int], ...]  # most first, then by name

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_service": {
                s.service: {"total": s.total, "by_severity": dict(s.by_severity)}
                for s in self.by_service
            },
            "by_severity": dict(self.by_severity),
        }


@dataclass(frozen=True)
class ServiceDeploys:
    service: str
    by_kind: tuple[tuple[str, int], ...]  # code, model, then any other kind by name
    failed: int

    @property
    def total(self) -> int:
        return sum(n for _, n in self.by_kind)

    @property
    def failure_rate(self) -> float | None:
        return _rate(self.failed, self.total)


@dataclass(frozen=True)
class FailedDeploy:
    deployment_id: int
    service: str
    kind: str
    version: str
    environment: str
    deployed_at: datetime
    incident_id: int  # the first incident on the service after it, within the window
    incident_opened_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "service": self.service,
            "kind": self.kind,
            "version": self.version,
            "environment": self.environment,
            "deployed_at": self.deployed_at.isoformat(),
            "incident_id": self.incident_id,
            "incident_opened_at": self.incident_opened_at.isoformat(),
        }


@dataclass(frozen=True)
class Deploys:
    by_service: tuple[ServiceDeploys, ...]  # most deploys first, then by name
    failed: tuple[FailedDeploy, ...]  # in deploy order
    window: timedelta

    @property
    def total(self) -> int:
        return sum(s.total for s in self.by_service)

    @property
    def failure_rate(self) -> float | None:
        return _rate(len(self.failed), self.total)


@dataclass(frozen=True)
class Rollbacks:
    total: int
    by_service: tuple[tuple[str, int], ...]  # most first, then by name


@dataclass(frozen=True)
class AlertCount:
    alertname: str
    incidents: int
    occurrences: int


@dataclass(frozen=True)
class OpenFollowUp:
    id: int
    incident_id: int
    owner: str | None
    text: str  # untrusted
    created_at: datetime
    age_s: float  # at the report's ``until``

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "owner": self.owner,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "age_s": self.age_s,
        }


@dataclass(frozen=True)
class OpenFollowUps:
    total: int
    oldest: tuple[OpenFollowUp, ...]  # at most OPEN_FOLLOW_UPS_SHOWN, oldest first


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    incidents: IncidentCounts
    response: ResponseTimes
    deploys: Deploys
    rollbacks: Rollbacks
    top_alerts: tuple[AlertCount, ...]
    follow_ups: OpenFollowUps
    ml: MLKpis

    def as_json(self) -> dict[str, Any]:
        d = self.deploys
        return {
            "period": {
                "since": self.since.isoformat(),
                "until": self.until.isoformat(),
                "days": round((self.until - self.since).total_seconds() / 86400, 3),
            },
            "incidents": self.incidents.as_json(),
            "response": self.response.as_json(),
            "deploys": {
                "total": d.total,
                "by_service": {
                    s.service: {"total": s.total, **dict(s.by_kind)} for s in d.by_service
                },
            },
            "change_failure": {
                "window_min": _minutes(d.window),
                "deploys": d.total,
                "failed": len(d.failed),
                "rate": d.failure_rate,
                "by_service": {
                    s.service: {"deploys": s.total, "failed": s.failed, "rate": s.failure_rate}
                    for s in d.by_service
                },
                "failed_deploys": [f.as_json() for f in d.failed],
            },
            "rollbacks": {
                "total": self.rollbacks.total,
                "by_service": dict(self.rollbacks.by_service),
            },
            "top_alerts": [
                {"alertname": a.alertname, "incidents": a.incidents, "occurrences": a.occurrences}
                for a in self.top_alerts
            ],
            "follow_ups_open": {
                "total": self.follow_ups.total,
                "oldest": [f.as_json() for f in self.follow_ups.oldest],
            },
            **self.ml.as_json(),
        }


# -- computing it --------------------------------------------------------------------------------


def reliability_report(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    change_window: timedelta,
    catalog: Catalog | None = None,
    rules: RulesRead = NO_PROMETHEUS,
    now: datetime | None = None,
) -> Report:
    """The KPIs of ``[since, until)`` (see the module docstring for every definition).
    ``rules``: Prometheus's rules as read for drift coverage; ``now``: where the freshness
    history ends when the period runs past it (default: the clock)."""
    if since >= until:
        raise ValueError(f"since ({since}) must be before until ({until})")
    # Incidents up to one window past the period: a deploy late in it can still fail.
    incidents = session.exec(
        select(Incident)
        .where(
            col(Incident.opened_at) >= since,
            col(Incident.opened_at) <= until + change_window,
        )
        .order_by(col(Incident.opened_at), col(Incident.id))
    ).all()
    in_period = [i for i in incidents if i.opened_at < until]
    phases = [phases_of(session, i) for i in in_period]
    alerts = session.exec(
        select(Alert.incident_id, Alert.alertname)
        .join(Incident, col(Incident.id) == col(Alert.incident_id))
        .where(col(Incident.opened_at) >= since, col(Incident.opened_at) < until)
    ).all()
    deploys = session.exec(
        select(Deployment)
        .where(col(Deployment.deployed_at) >= since, col(Deployment.deployed_at) < until)
        .order_by(col(Deployment.deployed_at), col(Deployment.id))
    ).all()
    rollbacks = session.exec(
        select(ActionRun).where(
            ActionRun.action == ROLLBACK_ACTION,
            ActionRun.status == RunStatus.SUCCEEDED,
            col(ActionRun.dry_run).is_(False),
            col(ActionRun.updated_at) >= since,
            col(ActionRun.updated_at) < until,
        )
    ).all()
    catalog = catalog or Catalog()
    return Report(
        since=since,
        until=until,
        incidents=incident_counts(in_period),
        response=response_times(phases),
        deploys=deploy_outcomes(deploys, incidents, change_window),
        rollbacks=rollback_counts(rollbacks, catalog),
        top_alerts=top_alerts([(i, name) for i, name in alerts if i is not None]),
        follow_ups=open_follow_ups(session, until),
        ml=ml_kpis(
            session,
            since=since,
            until=until,
            catalog=catalog,
            rules=rules,
            now=now or utcnow(),
        ),
    )


def open_follow_ups(
    session: Session, until: datetime, limit: int = OPEN_FOLLOW_UPS_SHOWN
) -> OpenFollowUps:
    """Follow-ups still open at ``until``: how many, and the ``limit`` oldest."""
    total, rows = open_at(session, until, limit=limit)
    return OpenFollowUps(
        total=total,
        oldest=tuple(
            OpenFollowUp(
                id=row.id,
                incident_id=row.incident_id,
                owner=row.owner,
                text=row.text,
                created_at=row.created_at,
                age_s=round((until - row.created_at).total_seconds(), 3),
            )
            for row in rows
            if row.id is not None
        ),
    )


def incident_counts(incidents: Sequence[Incident]) -> IncidentCounts:
    by_service: dict[str, Counter[str]] = defaultdict(Counter)
    for inc in incidents:
        by_service[inc.service or UNKNOWN][inc.severity or UNKNOWN] += 1
    severities: Counter[str] = Counter()
    for counts in by_service.values():
        severities.update(counts)
    services = [
        ServiceIncidents(name, counts.total(), tuple(sorted(counts.items())))
        for name, counts in by_service.items()
    ]
    services.sort(key=lambda s: (-s.total, s.service))
    return IncidentCounts(len(incidents), tuple(services), _most_first(severities))


def response_times(phases: Sequence[Phases]) -> ResponseTimes:
    return ResponseTimes(
        detect=durations(p.time_to_detect for p in phases),
        acknowledge=durations(p.time_to_acknowledge for p in phases),
        mitigate=durations(p.time_to_mitigate for p in phases),
        resolve=durations(p.time_to_resolve for p in phases),
    )


def deploy_outcomes(
    deploys: Sequence[Deployment], incidents: Sequence[Incident], window: timedelta
) -> Deploys:
    """Deploys by service and kind, and which were followed by an incident on their service."""
    opened: dict[str, list[Incident]] = defaultdict(list)
    for inc in sorted(incidents, key=lambda i: (i.opened_at, i.id or 0)):
        if inc.service is not None:
            opened[inc.service].append(inc)
    opened_at = {service: [i.opened_at for i in found] for service, found in opened.items()}
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    failed_by_service: Counter[str] = Counter()
    failed: list[FailedDeploy] = []
    for d in deploys:
        assert d.id is not None
        kinds[d.service][d.kind] += 1
        # The first incident on the service opened strictly after the deploy ...
        first = bisect_right(opened_at.get(d.service, []), d.deployed_at)
        if first == len(opened_at.get(d.service, [])):
            continue
        after = opened[d.service][first]
        if after.opened_at > d.deployed_at + window:  # ... and at the latest at the window's end
            continue
        assert after.id is not None
        failed_by_service[d.service] += 1
        failed.append(
            FailedDeploy(
                deployment_id=d.id,
                service=d.service,
                kind=d.kind,
                version=d.version,
                environment=d.environment,
                deployed_at=d.deployed_at,
                incident_id=after.id,
                incident_opened_at=after.opened_at,
            )
        )
    services = [
        ServiceDeploys(name, _kinds(counts), failed_by_service[name])
        for name, counts in kinds.items()
    ]
    services.sort(key=lambda s: (-s.total, s.service))
    return Deploys(tuple(services), tuple(failed), window)


def rollback_counts(runs: Sequence[ActionRun], catalog: Catalog) -> Rollbacks:
    counts: Counter[str] = Counter()
    for run in runs:
        if run.plan.get("noop"):
            continue
        labels = {k: str(run.params[k]) for k in ("namespace", "deployment") if run.params.get(k)}
        counts[service_name(labels, catalog) or UNKNOWN] += 1
    return Rollbacks(counts.total(), _most_first(counts))


def top_alerts(pairs: Sequence[tuple[int, str]], limit: int = TOP_ALERTS) -> tuple[AlertCount, ...]:
    """``(incident id, alertname)`` per alert row → the most recurring alert names."""
    occurrences: Counter[str] = Counter()
    incidents: dict[str, set[int]] = defaultdict(set)
    for incident_id, alertname in pairs:
        name = alertname or NO_ALERTNAME
        occurrences[name] += 1
        incidents[name].add(incident_id)
    ranked = sorted(occurrences, key=lambda n: (-len(incidents[n]), -occurrences[n], n))
    return tuple(AlertCount(n, len(incidents[n]), occurrences[n]) for n in ranked[:limit])


def _kinds(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    others = sorted(k for k in counts if k not in DEPLOY_KINDS)
    return tuple((k, counts[k]) for k in (*DEPLOY_KINDS, *others))


def _most_first(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _minutes(window: timedelta) -> float | int:
    minutes = window.total_seconds() / 60
    return int(minutes) if minutes.is_integer() else minutes


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
