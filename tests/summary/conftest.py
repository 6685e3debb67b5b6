"""A scripted incident for the summary tests, written straight into the store.

``fraud_incident`` is the story the golden summary tells (times on 2026-11-27, UTC):

    02:58:00  CI deploys model fraud-model 1.4.2 (1.4.1 had run since 2026-11-20)
    02:58:40  error_ratio leaves its baseline (found by the metrics enrichment)
    03:04:10  FraudScorerErrors fires: incident #1 opens               events #1, #2
    03:05:02  enrichment: two suspects; lineage unavailable            #3
    03:06:30  U0ALICE acknowledges                                     #4
    03:07:30  U0ALICE dry-runs scale_deployment (action run 1)         #5, #6
    03:08:00  U0ALICE notes what she sees                              #7
    03:09:15  U0ALICE asks for rollback_deployment (action run 2)      #8, #9
    03:11:40  U0BOB approves; 03:12:05 it succeeds                     #10, #11
    03:12:10  argo-rollouts reports model 1.4.1 deployed again
    03:14:00  U0BOB notes the confirmed cause                          #12
    03:25:20  the alert resolves, so does the incident                 #13, #14
    03:27:00  U0ALICE and U0CAROL note follow-ups (one full of markup) #15, #16

Rows are inserted in time order, so timeline ids follow the story on a fresh database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from bot.catalog.model import Catalog
from bot.errors import ExternalServiceError
from bot.store.models import (
    Alert,
    Deployment,
    Enrichment,
    Incident,
    IncidentStatus,
    TimelineEvent,
)
from bot.store.run_models import ActionRun, RunStatus

DAY = datetime(2026, 11, 27, tzinfo=UTC)
START = DAY.replace(hour=3, minute=4, second=10)
RESOLVED = DAY.replace(hour=3, minute=25, second=20)
SERVICE = "fraud-scorer"
TITLE = "Fraud scorer error ratio above 5%"
SCALE_PLAN = "Scale ml-serving/fraud-scorer from 2 to 6 replicas"
ROLLBACK_PLAN = (
    "Roll back ml-serving/fraud-scorer from revision 8 (fraud-scorer:2.3.1) to revision 7 "
    "(fraud-scorer:2.3.0)"
)
ROLLED_BACK = "Rolled back ml-serving/fraud-scorer to revision 7"
TOP_SUSPECT = "model fraud-model 1.4.2 deployed 6 min before the alert; error_ratio +310% after it"
CAUSE = "model 1.4.2 was trained on features where tx_amount was retyped to string"
MARKUP_NOTE = (
    "todo: # page the model owner on schema changes\n<!channel> see `runbook <http://x|here>"
)

CATALOG = Catalog.model_validate(
    {
        "services": {
            SERVICE: {
                "name": SERVICE,
                "namespace": "ml-serving",
                "deployments": [SERVICE],
                "model": "fraud-model",
                "signals": [
                    {"name": "error_ratio", "query": 'sum(errors{service="fraud-scorer"})'},
                    {
                        "name": "predictions_per_s",
                        "query": 'sum(rate(predictions_total{service="fraud-scorer"}[1m]))',
                        "unit": "1/s",
                        "volume": True,
                    },
                ],
            }
        }
    }
)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


class ScriptedProm:
    """A read-only data source with ``PromClient.query_range``'s signature: ``rate`` per second
    at every step from ``start`` to ``end``, or the errors queued in ``errors``."""

    def __init__(self, rate: float = 250.0) -> None:
        self.rate = rate
        self.calls: list[tuple[str, datetime, datetime, float]] = []
        self.errors: list[Exception] = []

    def query_range(
        self, query: str, start: datetime, end: datetime, step_s: float
    ) -> list[tuple[float, float]]:
        self.calls.append((query, start, end, step_s))
        if self.errors:
            raise self.errors.pop(0)
        points, t = [], start.timestamp()
        while t <= end.timestamp() + 1e-9:
            points.append((t, self.rate))
            t += step_s
        return points


def prom_down() -> ScriptedProm:
    prom = ScriptedProm()
    prom.errors.append(
        ExternalServiceError("prometheus", "query_range", None, "cannot connect to prom:9090")
    )
    return prom


@dataclass
class Story:
    """Writes an incident's rows in order; ``event`` returns the new timeline id."""

    session: Session
    incident: Incident
    events: list[int] = field(default_factory=list)

    @property
    def id(self) -> int:
        assert self.incident.id is not None
        return self.incident.id

    def event(
        self,
        when: datetime,
        kind: str,
        text: str,
        actor: str | None = None,
        **data: Any,
    ) -> int:
        row = TimelineEvent(
            incident_id=self.id, at=when, kind=kind, text=text, actor=actor, data=data
        )
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        self.events.append(row.id)
        return row.id

    def run(self, **fields: Any) -> int:
        row = ActionRun(incident_id=self.id, **fields)
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id


def open_incident(session: Session, *, status: str = IncidentStatus.FIRING) -> Story:
    incident = Incident(
        group_key='{}:{alertname="FraudScorerErrors"}',
        source="alertmanager",
        status=status,
        title=TITLE,
        severity="critical",
        service=SERVICE,
        labels={"alertname": "FraudScorerErrors", "service": SERVICE, "severity": "critical"},
        opened_at=START,
        updated_at=START,
    )
    session.add(incident)
    session.flush()
    return Story(session, incident)


def deploys(session: Session) -> None:
    for version, when, actor, kind in (
        ("1.4.1", datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "ci", "model"),
        ("2.3.1", at(2, 40), "ci", "code"),
        ("1.4.2", at(2, 58), "ci", "model"),
        ("1.4.1", at(3, 12, 10), "argo-rollouts", "model"),
    ):
        session.add(
            Deployment(
                service=SERVICE,
                environment="production",
                kind=kind,
                version=version,
                actor=actor,
                deployed_at=when,
                received_at=when,
            )
        )


def enrichment(session: Session, incident_id: int, finished: datetime) -> None:
    suspects = [
        {
            "kind": "model",
            "ref": "fraud-model 1.4.2",
            "service": SERVICE,
            "at": at(2, 58).isoformat(),
            "score": 0.91,
            "reason": TOP_SUSPECT,
            "relation": "same_service",
            "source": "deploy_event",
        },
        {
            "kind": "code",
            "ref": "fraud-scorer:2.3.1",
            "service": SERVICE,
            "at": at(2, 40).isoformat(),
            "score": 0.42,
            "reason": "fraud-scorer:2.3.1 deployed 24 min before the alert",
            "relation": "same_service",
            "source": "deploy_event",
        },
    ]
    signals = [
        {
            "name": "error_ratio",
            "baseline": 0.01,
            "now": 0.041,
            "deviated": True,
            "first_deviation_at": at(2, 58, 40).isoformat(),
        },
        {"name": "predictions_per_s", "baseline": 250.0, "now": 248.0, "deviated": False},
    ]
    for source, status, reason, data in (
        ("deploys", "ok", None, {"count": 2}),
        ("data", "unavailable", "lineage timed out after 1.0 s", {}),
        ("metrics", "ok", None, {"signals": signals}),
        ("suspects", "ok", None, {"suspects": suspects, "lookback_min": 360}),
    ):
        session.add(
            Enrichment(
                incident_id=incident_id,
                source=source,
                status=status,
                reason=reason,
                data=data,
                finished_at=finished,
            )
        )


def write_fraud_incident(session: Session, *, until: datetime | None = None) -> Story:
    """The story above, up to ``until`` (default: all of it)."""
    end = until or datetime.max.replace(tzinfo=UTC)

    def reached(when: datetime) -> bool:
        return when <= end

    story = open_incident(session)
    inc = story.incident
    deploys(session)
    session.add(
        Alert(
            incident_id=story.id,
            fingerprint="a1b2c3d4e5f60718",
            alertname="FraudScorerErrors",
            status="firing",
            starts_at=START,
            labels={"alertname": "FraudScorerErrors", "service": SERVICE, "severity": "critical"},
            annotations={"summary": TITLE, "runbook_url": "https://runbooks.example/fraud"},
            updated_at=START,
        )
    )
    if reached(START):
        story.event(START, "incident_opened", f"Incident opened: {TITLE}", group_key="g")
        story.event(START, "alert_firing", "FraudScorerErrors firing", fingerprint="a1b2")

    if reached(at(3, 5, 2)):
        enrichment(session, story.id, at(3, 5, 2))
        story.event(
            at(3, 5, 2),
            "enrichment",
            f"Enrichment: 2 change(s); top suspect: {TOP_SUSPECT}",
            suspects=[{"reason": TOP_SUSPECT}],
            unavailable={"data": "lineage timed out after 1.0 s"},
        )

    if reached(at(3, 6, 30)):
        inc.status, inc.acknowledged_at = IncidentStatus.ACKNOWLEDGED, at(3, 6, 30)
        story.event(at(3, 6, 30), "acknowledged", "Acknowledged by <@U0ALICE>", "U0ALICE")

    if reached(at(3, 7, 30)):
        run = story.run(
            key="scale-1",
            action="scale_deployment",
            params={"namespace": "ml-serving", "deployment": SERVICE, "replicas": 6},
            requested_by="U0ALICE",
            dry_run=True,
            status=RunStatus.DRY_RUN,
            plan={"summary": SCALE_PLAN, "noop": False},
            created_at=at(3, 7, 30),
            updated_at=at(3, 7, 31),
        )
        ids = {"action_run_id": run, "action": "scale_deployment"}
        story.event(
            at(3, 7, 30),
            "action_requested",
            "scale_deployment requested (dry run)",
            "U0ALICE",
            **ids,
            status="planned",
        )
        story.event(
            at(3, 7, 31),
            "action_dry_run",
            f"scale_deployment: Dry run, nothing changed. Would: {SCALE_PLAN}",
            "U0ALICE",
            **ids,
            status="dry_run",
        )

    if reached(at(3, 8)):
        story.event(
            at(3, 8),
            "note",
            "Looking at the 1.4.2 deploy; errors are all schema errors",
            "U0ALICE",
            via="command",
        )

    if reached(at(3, 9, 15)):
        approved, done = at(3, 11, 40) <= end, at(3, 12, 5) <= end
        status = RunStatus.AWAITING_APPROVAL
        if done:
            status = RunStatus.SUCCEEDED
        elif approved:
            status = RunStatus.APPROVED
        run = story.run(
            key="rollback-1",
            action="rollback_deployment",
            params={"namespace": "ml-serving", "deployment": SERVICE},
            requested_by="U0ALICE",
            approver="U0BOB" if approved else None,
            status=status,
            plan={"summary": ROLLBACK_PLAN, "noop": False},
            result={"ok": True, "summary": ROLLED_BACK} if done else {},
            created_at=at(3, 9, 15),
            updated_at=min(end, at(3, 12, 5)),
        )
        ids = {"action_run_id": run, "action": "rollback_deployment"}
        story.event(
            at(3, 9, 15), "action_requested", "rollback_deployment requested", "U0ALICE", **ids
        )
        story.event(
            at(3, 9, 16),
            "approval_requested",
            f"Approval requested for rollback_deployment: {ROLLBACK_PLAN}",
            "U0ALICE",
            **ids,
        )
        if approved:
            story.event(
                at(3, 11, 40),
                "action_approved",
                f"rollback_deployment approved: {ROLLBACK_PLAN}",
                "U0BOB",
                **ids,
            )
        if done:
            story.event(
                at(3, 12, 5),
                "action_succeeded",
                f"rollback_deployment: Done: {ROLLED_BACK}",
                "U0BOB",
                **ids,
            )

    if reached(at(3, 14)):
        story.event(at(3, 14), "note", f"cause: {CAUSE}", "U0BOB", via="reaction")

    if reached(RESOLVED):
        inc.status, inc.resolved_at = IncidentStatus.RESOLVED, RESOLVED
        alert = session.exec(select(Alert).where(Alert.incident_id == story.id)).one()
        alert.status, alert.ends_at = "resolved", RESOLVED
        story.event(RESOLVED, "alert_resolved", "FraudScorerErrors resolved", fingerprint="a1b2")
        story.event(RESOLVED, "incident_resolved", "All alerts resolved")

    if reached(at(3, 27)):
        story.event(
            at(3, 27),
            "note",
            "follow-up: add a schema check to the training pipeline",
            "U0ALICE",
            via="command",
        )
        story.event(at(3, 28, 10), "note", MARKUP_NOTE, "U0CAROL", via="reaction")

    session.add(inc)
    session.commit()
    return story
