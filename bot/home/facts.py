"""What one person's App Home shows, read from the store: ``HomeFacts``.

    read_world(engine, now)    open incidents with their timeline actors, pending approvals with
                               their runs, jobs not yet final, the latest summaries: read once
         │                     (a refresh pass draws every viewer's home from one read)
    facts_for(world, user)     → HomeFacts: that person's part of it

Which incidents are "mine": the open ones the person leads, or acted on (an actor of one of
their timeline events: acknowledged, noted, asked for or approved an action, ...). On-call is
not a rule of its own: PagerDuty names a person, not a Slack user, so the on-call person of a
service cannot be matched to whoever opens the Home tab.

Which approvals wait for me: pending, not expired, asked for by someone else, and approvable by
me under the policy, decided by the executor's own check (``Executor.approver_decision``, the
one Approve and Reject use), never a copy of it.

On call for my services: the services of my incidents, with the person the ``oncall``
enrichment last read from PagerDuty (``Incident.oncall``); the Home never calls PagerDuty itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.incidents.silences import thread_link
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Incident, IncidentStatus, TimelineEvent
from bot.store.run_models import ActionRun, Approval, ApprovalStatus
from bot.store.summary_models import IncidentSummary, SummaryState

if TYPE_CHECKING:
    from bot.runner.execute import Executor

log = logging.getLogger(__name__)

MAX_OPEN = 500  # open incidents read per pass (the oldest beyond it are not anyone's home)
MAX_PENDING = 500  # pending approvals read per pass
MAX_ACTIVE_JOBS = 500
SUMMARIES = 5


@dataclass(frozen=True)
class MyIncident:
    id: int
    title: str
    status: str
    severity: str | None
    service: str | None
    opened_at: datetime
    leads: bool  # True: I lead it; False: I acted on it
    link: str | None  # its Slack thread (or PagerDuty page)


@dataclass(frozen=True)
class WaitingApproval:
    token: str  # what the approval message's buttons carry
    run_id: int
    action: str
    summary: str  # the plan's summary
    requested_by: str
    incident_id: int | None
    expires_at: datetime


@dataclass(frozen=True)
class RecentSummary:
    incident_id: int
    title: str
    at: datetime  # when the summary was last written
    final: bool  # written for the resolved incident
    link: str | None  # the summary's message, else the incident's thread


@dataclass(frozen=True)
class ServiceOnCall:
    service: str
    person: str | None  # as the oncall enrichment last read it
    paged: bool  # the catalog names a PagerDuty service or escalation policy for it


@dataclass(frozen=True)
class HomeFacts:
    user: str
    incidents: tuple[MyIncident, ...] = ()
    approvals: tuple[WaitingApproval, ...] = ()
    jobs: tuple[JobRun, ...] = ()  # requested by me, not final, newest first
    summaries: tuple[RecentSummary, ...] = ()
    oncall: tuple[ServiceOnCall, ...] = ()
    pagerduty: bool = False  # PagerDuty is configured (OPSBOT_PAGERDUTY_TOKEN)


@dataclass(frozen=True)
class World:
    """Everything any home is drawn from, read in one go."""

    now: datetime
    incidents: Sequence[Incident] = ()  # open, newest first
    actors: dict[int, frozenset[str]] = field(default_factory=dict)  # incident → actors
    approvals: Sequence[tuple[Approval, ActionRun]] = ()  # pending, not expired, oldest first
    jobs: Sequence[JobRun] = ()  # not final, newest first
    summaries: Sequence[RecentSummary] = ()


def read_world(engine: Engine, now: datetime) -> World:
    with Session(engine, expire_on_commit=False) as session:
        incidents = session.exec(
            select(Incident)
            .where(col(Incident.status).in_(IncidentStatus.OPEN))
            .order_by(col(Incident.id).desc())
            .limit(MAX_OPEN)
        ).all()
        ids = [i.id for i in incidents if i.id is not None]
        actors: dict[int, set[str]] = {}
        if ids:
            rows = session.exec(
                select(TimelineEvent.incident_id, TimelineEvent.actor)
                .where(
                    col(TimelineEvent.incident_id).in_(ids), col(TimelineEvent.actor).is_not(None)
                )
                .distinct()
            ).all()
            for incident_id, actor in rows:
                if actor:
                    actors.setdefault(incident_id, set()).add(actor)
        approvals = session.exec(
            select(Approval, ActionRun)
            .join(ActionRun, col(ActionRun.id) == col(Approval.action_run_id))
            .where(Approval.status == ApprovalStatus.PENDING, col(Approval.expires_at) > now)
            .order_by(col(Approval.id))
            .limit(MAX_PENDING)
        ).all()
        jobs = session.exec(
            select(JobRun)
            .where(col(JobRun.status).in_(JobStatus.ACTIVE))
            .order_by(col(JobRun.id).desc())
            .limit(MAX_ACTIVE_JOBS)
        ).all()
        summaries = session.exec(
            select(IncidentSummary, Incident)
            .join(Incident, col(Incident.id) == col(IncidentSummary.incident_id))
            .where(IncidentSummary.state == SummaryState.READY)
            .order_by(col(IncidentSummary.updated_at).desc(), col(IncidentSummary.id).desc())
            .limit(SUMMARIES)
        ).all()
    return World(
        now=now,
        incidents=incidents,
        actors={k: frozenset(v) for k, v in actors.items()},
        approvals=[(a, r) for a, r in approvals],
        jobs=jobs,
        summaries=[_recent(s, i) for s, i in summaries],
    )


def _recent(summary: IncidentSummary, incident: Incident) -> RecentSummary:
    link = None
    if summary.channel and summary.message_ts:
        link = (
            f"https://slack.com/archives/{summary.channel}/p{summary.message_ts.replace('.', '')}"
        )
    return RecentSummary(
        incident_id=summary.incident_id,
        title=incident.title,
        at=summary.updated_at,
        final=summary.final,
        link=link or thread_link(incident),
    )


def facts_for(
    world: World, user: str, *, executor: Executor, catalog: Catalog, pagerduty: bool
) -> HomeFacts:
    """``user``'s home, from ``world``."""
    mine = [
        i
        for i in world.incidents
        if i.lead == user or user in world.actors.get(i.id or 0, frozenset())
    ]
    approvals = tuple(
        _waiting(approval, run)
        for approval, run in world.approvals
        if run.requested_by != user and may_approve(executor, run, user)
    )
    jobs = tuple(j for j in world.jobs if j.requested_by == user)
    services = sorted({i.service for i in mine if i.service})
    oncall = tuple(_oncall(service, mine, catalog) for service in services)
    return HomeFacts(
        user=user,
        incidents=tuple(_mine(i, user) for i in mine),
        approvals=approvals,
        jobs=jobs,
        summaries=tuple(world.summaries),
        oncall=oncall,
        pagerduty=pagerduty,
    )


def home_facts(
    engine: Engine,
    user: str,
    *,
    executor: Executor,
    catalog: Catalog,
    pagerduty: bool,
    now: datetime,
) -> HomeFacts:
    """One person's home, read now (``/ops home``; the Slack tab reads through ``Homes``)."""
    world = read_world(engine, now)
    return facts_for(world, user, executor=executor, catalog=catalog, pagerduty=pagerduty)


def may_approve(executor: Executor, run: ActionRun, user: str) -> bool:
    """Whether ``user`` may approve (and so reject) ``run``: the executor's own decision."""
    try:
        return executor.approver_decision(run, user).allowed
    except Exception as exc:  # an action no longer registered, params it no longer parses
        log.warning("approval of run %s not shown: %s: %s", run.id, type(exc).__name__, exc)
        return False


def _mine(incident: Incident, user: str) -> MyIncident:
    assert incident.id is not None
    return MyIncident(
        id=incident.id,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        service=incident.service,
        opened_at=incident.opened_at,
        leads=incident.lead == user,
        link=thread_link(incident),
    )


def _waiting(approval: Approval, run: ActionRun) -> WaitingApproval:
    assert run.id is not None
    return WaitingApproval(
        token=approval.token,
        run_id=run.id,
        action=run.action,
        summary=str(run.plan.get("summary") or run.action),
        requested_by=run.requested_by,
        incident_id=run.incident_id,
        expires_at=approval.expires_at,
    )


def _oncall(service: str, mine: Sequence[Incident], catalog: Catalog) -> ServiceOnCall:
    entry = catalog.get(service)
    people = [i.oncall for i in mine if i.service == service and i.oncall]
    return ServiceOnCall(
        service=service,
        person=people[0] if people else None,  # the newest incident's reading
        paged=entry is not None and entry.pagerduty is not None,
    )
