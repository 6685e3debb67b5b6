"""An incident in its Slack thread, with what triage reads: alerts, timeline, enrichment,
deploys, a lineage change and a Ray job; the catalog; the OpenAI fake and the real LLM client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.catalog.model import Catalog
from bot.clients.llm import LLMClient
from bot.store.job_models import JobRun
from bot.store.models import (
    Alert,
    AuditEntry,
    Deployment,
    Enrichment,
    Incident,
    LineageChange,
    LineageRun,
    OutboxMessage,
    TimelineEvent,
)
from bot.store.run_models import ActionRun, Approval, PlaybookRun
from bot.store.types import utcnow
from tests.fakes.openai.api import OpenAIFake
from tests.support.llm import client_for

CHANNEL = "C0INCIDENT"
THREAD_TS = "1700000000.000100"
ASKER = "U0ASKER"
RESPONDER = "U0ALICE"  # acked the incident: on the timeline
BOT = "U0OPSBOT"
PLAYBOOK = "rollback-model-deploy"
OTHER_PLAYBOOK = "restart-fraud-scorer"
SERVICE = "fraud-scorer"
DATASET = ("warehouse", "features.transactions")

CATALOG = Catalog.model_validate(
    {
        "services": {
            SERVICE: {
                "name": SERVICE,
                "namespace": "ml-serving",
                "deployments": [SERVICE],
                "model": "fraud-model",
                "datasets": [{"namespace": DATASET[0], "name": DATASET[1]}],
                "signals": [
                    {
                        "name": "error_ratio",
                        "query": 'sum(opsbot_test_error_ratio{service="fraud-scorer"})',
                    },
                    {
                        "name": "p95_latency",
                        "query": 'sum(opsbot_test_p95_seconds{service="fraud-scorer"})',
                        "unit": "s",
                    },
                ],
            }
        }
    }
)


@dataclass
class Seeded:
    incident_id: int
    job_id: int


def seed(
    engine: Engine,
    *,
    playbooks: list[str] | None = None,
    enriched: bool = True,
    status: str = "firing",
    annotation: str = "p95 latency above 400 ms for 5 minutes",
    label: str = "team-fraud",
    log_line: str = "epoch 3/10 loss=0.41",
    lineage_error: str = "column amount missing in source",
    note: str = "looking at the dashboards",
) -> Seeded:
    """One incident in ``CHANNEL``/``THREAD_TS``, opened 10 minutes ago, and its evidence."""
    now = utcnow()
    opened = now - timedelta(minutes=10)
    with Session(engine) as s:
        incident = Incident(
            group_key='{}:{alertname="FraudScorerSlow"}',
            source="alertmanager",
            status=status,
            title="FraudScorerSlow",
            severity="critical",
            service=SERVICE,
            labels={"alertname": "FraudScorerSlow", "service": SERVICE, "team": label},
            slack_channel=CHANNEL,
            slack_ts=THREAD_TS,
            opened_at=opened,
            enrichment_state="done" if enriched else "pending",
            likely_cause="model fraud-model 1.4.2 deployed 6 min before the alert",
            playbooks=[PLAYBOOK, OTHER_PLAYBOOK] if playbooks is None else playbooks,
        )
        s.add(incident)
        s.flush()
        assert incident.id is not None
        iid = incident.id
        s.add(
            Alert(
                incident_id=iid,
                fingerprint="abc123",
                alertname="FraudScorerSlow",
                status="firing",
                starts_at=opened,
                labels={"alertname": "FraudScorerSlow", "service": SERVICE, "team": label},
                annotations={"summary": "fraud-scorer is slow", "description": annotation},
            )
        )
        s.add(
            TimelineEvent(incident_id=iid, kind="alert", text="FraudScorerSlow firing", at=opened)
        )
        s.add(
            TimelineEvent(
                incident_id=iid,
                kind="acknowledged",
                actor=RESPONDER,
                text="acknowledged",
                at=opened + timedelta(minutes=1),
            )
        )
        s.add(
            TimelineEvent(
                incident_id=iid,
                kind="note",
                actor="U0MALLORY",
                text=note,
                at=opened + timedelta(minutes=2),
            )
        )
        deployed = opened - timedelta(minutes=6)
        s.add(
            Deployment(
                service=SERVICE,
                environment="production",
                kind="model",
                version="1.4.2",
                actor="ci",
                deployed_at=deployed,
            )
        )
        if enriched:
            s.add(_enrichment(iid, "suspects", _suspects_data(deployed)))
            s.add(_enrichment(iid, "metrics", _metrics_data()))
            s.add(
                Enrichment(
                    incident_id=iid,
                    source="rollouts",
                    status="unavailable",
                    reason="Kubernetes is not configured",
                )
            )
        job = JobRun(
            submission_id=f"opsbot-score-{iid}",
            kind="score",
            template="fraud-batch-score",
            entrypoint="python -m ray_jobs.score",
            requested_by=RESPONDER,
            incident_id=iid,
            status="failed",
            message="exit code 1",
            log_tail=f"loading model fraud-model 1.4.2\n{log_line}\nTraceback: boom",
            progress={"done": 3, "total": 10, "unit": "epoch"},
            start_deadline_at=now + timedelta(minutes=5),
            deadline_at=now + timedelta(hours=1),
        )
        s.add(job)
        run = LineageRun(
            run_id="5f3c1c9e-0000-4000-8000-000000000001",
            job_namespace="etl",
            job_name="build_features",
            state="FAIL",
            state_at=opened - timedelta(minutes=20),
            ended_at=opened - timedelta(minutes=20),
            first_event_at=opened - timedelta(minutes=30),
            last_event_at=opened - timedelta(minutes=20),
            producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
            error_message=lineage_error,
            facets={"errorMessage": {"message": lineage_error, "programmingLanguage": "python"}},
        )
        s.add(run)
        s.flush()
        assert run.id is not None
        assert job.id is not None
        s.add(
            LineageChange(
                run_pk=run.id,
                run_id=run.run_id,
                namespace=DATASET[0],
                name=DATASET[1],
                job="etl/build_features",
                at=opened - timedelta(minutes=20),
                state="FAIL",
                failed=True,
                diff={},
            )
        )
        job_id = job.id
        s.commit()
    return Seeded(iid, job_id)


def _enrichment(iid: int, source: str, data: dict[str, Any]) -> Enrichment:
    return Enrichment(incident_id=iid, source=source, status="ok", data=data)


def _suspects_data(deployed: Any) -> dict[str, Any]:
    return {
        "suspects": [
            {
                "kind": "model",
                "ref": "fraud-model 1.4.2",
                "service": SERVICE,
                "at": deployed.isoformat(),
                "score": 0.82,
                "reason": "model fraud-model 1.4.2 deployed 6 min before the alert; "
                "p95_latency +180% after it",
                "relation": "same_service",
                "source": "deploy_event",
            },
            {
                "kind": "data",
                "ref": "warehouse/features.transactions",
                "service": SERVICE,
                "at": deployed.isoformat(),
                "score": 0.31,
                "reason": "input data warehouse/features.transactions: run FAIL in "
                "etl/build_features",
                "relation": "input_dataset",
                "source": "lineage",
            },
        ],
        "changes": [],
        "lookback_min": 120,
    }


def _metrics_data() -> dict[str, Any]:
    return {
        "signals": [
            {
                "name": "p95_latency",
                "unit": "s",
                "baseline": 0.15,
                "now": 0.42,
                "change_pct": 180.0,
                "deviated": True,
            },
            {
                "name": "error_ratio",
                "unit": None,
                "baseline": 0.01,
                "now": 0.011,
                "change_pct": 10.0,
                "deviated": False,
            },
        ],
        "errors": {},
        "window": {},
    }


WRITE_TABLES = (ActionRun, Approval, PlaybookRun, AuditEntry, OutboxMessage, TimelineEvent)


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows of every table a write would touch (actions, approvals, audit, messages, timeline)."""
    with Session(engine) as s:
        return {
            model.__tablename__: s.exec(select(func.count()).select_from(model)).one()  # type: ignore[attr-defined]
            for model in WRITE_TABLES
        }


@pytest.fixture
def llm(openai_fake: OpenAIFake) -> Iterator[LLMClient]:
    client = client_for(openai_fake, max_retries=0)
    yield client
    client.close()
