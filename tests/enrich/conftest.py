"""An opsbot app wired to the Slack emulator, the Kubernetes fake and a service catalog.

Enrichment is driven by hand (``enrich`` then ``drain``) so each test controls the order of
events; the worker that does this in production is tested on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_app
from bot.config import Settings
from bot.enrich.outcome import Outcome
from bot.runtime import Runtime
from tests.fakes.slack.api import SlackEmulator
from tests.support.server import free_port

AM_TOKEN = "am-enrich-token"
API_TOKEN = "api-enrich-token"
DEFAULT_CHANNEL = "C0INCIDENT"
FRAUD_CHANNEL = "C0FRAUD"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"

CATALOG = """\
services:
  fraud-scorer:
    namespace: ml-serving
    deployments: [fraud-scorer]
    model: fraud-model
    datasets:
      - {namespace: warehouse, name: features.transactions}
    signals:
      - {name: error_ratio, query: 'sum(opsbot_test_error_ratio{service="fraud-scorer"})'}
    owner: team-fraud
    channel: C0FRAUD
"""


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(DEFAULT_CHANNEL, FRAUD_CHANNEL)) as emulator:
        yield emulator


@dataclass
class Bot:
    client: httpx.AsyncClient
    rt: Runtime
    slack: SlackEmulator

    async def deploy(self, **event: Any) -> None:
        event.setdefault("service", "fraud-scorer")
        event["timestamp"] = event["timestamp"].isoformat()
        r = await self.client.post("/api/v1/deployments", json=event, headers=self.api_headers)
        assert r.status_code == 201, r.text

    async def lineage(self, event: dict[str, Any]) -> None:
        r = await self.client.post("/api/v1/lineage", json=event, headers=self.api_headers)
        assert r.status_code == 201, r.text

    async def alert(self, starts_at: datetime, **labels: str) -> int:
        body = alert_payload(starts_at, labels)
        r = await self.client.post(
            "/webhooks/alertmanager", json=body, headers={"Authorization": f"Bearer {AM_TOKEN}"}
        )
        assert r.status_code == 200, r.text
        opened: list[int] = r.json()["incidents"]["opened"]
        assert len(opened) == 1
        return opened[0]

    async def enrich(self, incident_id: int) -> Outcome:
        outcome = await self.rt.enrichment.enricher.enrich(incident_id)
        assert outcome is not None
        await self.rt.sender.drain()
        return outcome

    async def incident(self, incident_id: int) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/incidents/{incident_id}", headers=self.api_headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_TOKEN}"}


@asynccontextmanager
async def running_bot(
    db_url: str, tmp_path: Path, slack: SlackEmulator, **overrides: Any
) -> AsyncIterator[Bot]:
    services = tmp_path / "services.yaml"
    if not services.exists():
        services.write_text(CATALOG)
    values: dict[str, Any] = {
        "database_url": db_url,
        "alertmanager_token": AM_TOKEN,
        "api_token": API_TOKEN,
        "incident_channel": DEFAULT_CHANNEL,
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": "signing-secret",
        "slack_api_url": slack.api_url,
        "slack_channel_rate": 50,
        "slack_channel_burst": 50,
        "services_file": services,
        "prometheus_url": f"http://127.0.0.1:{free_port()}",  # nothing listens: unavailable
        "enrich_timeout_s": 1.0,
    }
    values.update(overrides)
    app = build_app(Settings(**values), migrate=False)
    rt: Runtime = app.state.runtime
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://opsbot"
        ) as client:
            yield Bot(client, rt, slack)
    finally:
        client_session = getattr(rt.transport, "client", None)
        session = getattr(client_session, "session", None)
        if session is not None:
            await session.close()
        rt.engine.dispose()


def alert_payload(starts_at: datetime, labels: dict[str, str]) -> dict[str, Any]:
    labels = {"alertname": "FraudScorerErrors", "severity": "critical", **labels}
    group = '{}:{alertname="' + labels["alertname"] + '"}' + uuid.uuid4().hex[:6]
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": "fraud-scorer error ratio above 5%"},
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    return {
        "receiver": "opsbot",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
    }


def run_event(
    at: datetime,
    *,
    job: str,
    outputs: list[dict[str, Any]],
    inputs: list[dict[str, Any]] | None = None,
    state: str = "COMPLETE",
) -> dict[str, Any]:
    return {
        "eventType": state,
        "eventTime": at.isoformat(),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": job},
        "inputs": inputs or [],
        "outputs": outputs,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
    }


def dataset(
    name: str, fields: dict[str, str], rows: int, namespace: str = "warehouse"
) -> dict[str, Any]:
    facet = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
    }
    return {
        "namespace": namespace,
        "name": name,
        "facets": {
            "schema": {**facet, "fields": [{"name": k, "type": v} for k, v in fields.items()]}
        },
        "outputFacets": {
            "outputStatistics": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                "rowCount": rows,
            }
        },
    }


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)
