"""Rows of what the App Home shows, written straight into the store: open incidents with a lead,
an on-call person and timeline actors, pending approvals with their runs, Ray jobs, summaries.
For the home's facts, view and refresher tests (tests/home/, tests/render/test_home_view.py)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine

from bot.catalog.load import parse_catalog
from bot.catalog.model import Catalog
from bot.clients.set import Clients
from bot.incidents import timeline
from bot.runner.execute import Executor
from bot.store.engine import session_scope
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Incident, IncidentStatus
from bot.store.run_models import ActionRun, Approval, ApprovalStatus, RunStatus
from bot.store.summary_models import IncidentSummary, SummaryState
from bot.store.types import utcnow

NS = "ml-serving"
# The SREs approve rollbacks in ml-serving; only the DBAs approve scaling; anyone may run both.
CATALOG = f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [fraud-scorer]
    pagerduty: {{escalation_policy: PESC001}}
  ranker: {{namespace: {NS}, deployments: [ranker]}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB], dba: [U0DANA]}}
  rules:
    - actions: [rollback_deployment]
      run: ["*"]
      approve: ["@sre"]
    - actions: [scale_deployment]
      run: ["*"]
      approve: ["@dba"]
"""


def catalog() -> Catalog:
    return parse_catalog(CATALOG)


def executor(engine: Engine) -> Executor:
    """The executor whose approver check the home uses (no outside system: the check only reads
    the run's target from its params)."""
    return Executor(engine, catalog(), Clients())


def incident(
    engine: Engine,
    title: str,
    *,
    service: str | None = "fraud-scorer",
    lead: str | None = None,
    oncall: str | None = None,
    actors: tuple[str, ...] = (),
    status: str = IncidentStatus.FIRING,
    at: datetime | None = None,
) -> int:
    at = at or utcnow()
    with session_scope(engine) as session:
        row = Incident(
            group_key=f"home-{secrets.token_hex(6)}",
            source="declared",
            status=status,
            title=title,
            severity="sev2",
            service=service,
            lead=lead,
            oncall=oncall,
            slack_channel="C0INCIDENT",
            slack_ts=f"{int(at.timestamp())}.000100",
            opened_at=at,
            resolved_at=at if status == IncidentStatus.RESOLVED else None,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        for actor in actors:
            timeline.add(session, row.id, "note", f"{actor} looked", actor=actor, at=at)
        return row.id


def approval(
    engine: Engine,
    requested_by: str,
    *,
    action: str = "rollback_deployment",
    summary: str = "Roll back ml-serving/fraud-scorer to revision 3",
    incident_id: int | None = None,
    expires_in: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
) -> str:
    """A pending approval of ``action`` on ml-serving/fraud-scorer; its token."""
    now = now or utcnow()
    params: dict[str, object] = {"namespace": NS, "deployment": "fraud-scorer"}
    if action == "scale_deployment":
        params["replicas"] = 4
    token = secrets.token_urlsafe(16)
    with session_scope(engine) as session:
        run = ActionRun(
            key=f"home:{token}",
            action=action,
            params=params,
            requested_by=requested_by,
            incident_id=incident_id,
            status=RunStatus.AWAITING_APPROVAL,
            plan={"summary": summary, "lines": []},
            created_at=now,
            updated_at=now,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        session.add(
            Approval(
                token=token,
                action_run_id=run.id,
                requested_by=requested_by,
                status=ApprovalStatus.PENDING,
                expires_at=now + expires_in,
                created_at=now,
            )
        )
    return token


def job(
    engine: Engine,
    requested_by: str,
    *,
    status: str = JobStatus.RUNNING,
    template: str = "fraud-scorer",
    now: datetime | None = None,
) -> int:
    now = now or utcnow()
    with session_scope(engine) as session:
        row = JobRun(
            submission_id=f"opsbot-train-{secrets.token_hex(6)}",
            kind="train",
            template=template,
            entrypoint="python -m ray_jobs.train",
            requested_by=requested_by,
            status=status,
            start_deadline_at=now + timedelta(minutes=10),
            deadline_at=now + timedelta(hours=2),
            submitted_at=now,
            started_at=now if status == JobStatus.RUNNING else None,
            ended_at=now if status in JobStatus.FINAL else None,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def summary(engine: Engine, incident_id: int, at: datetime, *, final: bool = True) -> None:
    with session_scope(engine) as session:
        session.add(
            IncidentSummary(
                incident_id=incident_id,
                state=SummaryState.READY,
                markdown="# Summary",
                final=final,
                channel="C0INCIDENT",
                message_ts=f"{int(at.timestamp())}.000200",
                created_at=at,
                updated_at=at,
            )
        )
