"""End to end from MLflow to the incident: a person moves the ``champion`` alias with MLflow's
client, MLflow's signed webhook reaches opsbot over HTTP, an alert fires for the service whose
catalog ``model`` is that registered model, and the incident's top suspect is the alias move.
Another service's model moved at the same time is context, not a suspect."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from sqlalchemy import Engine

from bot.app import build_app
from bot.config import Settings
from tests.registry.test_mlflow_webhooks import EVENTS, SECRET, changes, eventually
from tests.support.app_server import served

AM_TOKEN = "registry-am-token"
API_TOKEN = "registry-api-token"


@pytest.fixture
def models() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"fraud-model-{tag}", f"churn-model-{tag}"


@pytest.fixture
def bot_url(sqlite_url: str, tmp_path: Path, models: tuple[str, str]) -> Iterator[str]:
    fraud, churn = models
    catalog = tmp_path / "services.yaml"
    catalog.write_text(
        f"services:\n  fraud-scorer:\n    model: {fraud}\n  churn-scorer:\n    model: {churn}\n"
    )
    settings = Settings(
        database_url=sqlite_url,
        mlflow_webhook_secret=SECRET,
        services_file=catalog,
        alertmanager_token=AM_TOKEN,
        api_token=API_TOKEN,
    )
    with served(build_app(settings, migrate=False)) as url:
        yield url


def alert(service: str, starts_at: datetime) -> dict[str, Any]:
    labels = {"alertname": "ScorerErrors", "service": service, "severity": "critical"}
    return {
        "receiver": "opsbot",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{service} error ratio above 5%"},
                "startsAt": starts_at.isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": uuid.uuid4().hex[:16],
            }
        ],
        "groupLabels": {"service": service},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{service="{service}"}}',
        "truncatedAlerts": 0,
    }


def test_an_alias_moved_in_mlflow_is_the_suspect_of_the_service_serving_that_model(
    mlflow: MlflowClient, bot_url: str, sqlite_engine: Engine, models: tuple[str, str]
) -> None:
    fraud, churn = models
    hook = mlflow.create_webhook(
        f"opsbot-{fraud}", f"{bot_url}/webhooks/mlflow", events=EVENTS, secret=SECRET
    )
    try:
        for model in (fraud, churn):
            mlflow.create_registered_model(model)
            mlflow.create_model_version(model, f"s3://models/{model}/1")
            mlflow.create_model_version(model, f"s3://models/{model}/2")
        mlflow.set_registered_model_alias(fraud, "champion", "1")
        eventually(lambda: changes(sqlite_engine, fraud), lambda c: len(c) == 3)
        mlflow.set_registered_model_alias(fraud, "champion", "2")
        mlflow.set_registered_model_alias(churn, "champion", "2")
        moved = f"alias champion of {fraud} moved 1 → 2"
        assert eventually(lambda: changes(sqlite_engine, fraud), lambda c: moved in c)[-1] == moved
        eventually(lambda: changes(sqlite_engine, churn), lambda c: len(c) == 3)
    finally:
        mlflow.delete_webhook(hook.webhook_id)

    with httpx.Client(base_url=bot_url, timeout=10) as http:
        sent = http.post(
            "/webhooks/alertmanager",
            json=alert("fraud-scorer", datetime.now(UTC)),
            headers={"Authorization": f"Bearer {AM_TOKEN}"},
        )
        assert sent.status_code == 200, sent.text
        [incident_id] = sent.json()["incidents"]["opened"]
        api = {"Authorization": f"Bearer {API_TOKEN}"}
        detail = eventually(
            lambda: http.get(f"/api/v1/incidents/{incident_id}", headers=api).json(),
            lambda d: d["enrichment_state"] == "done",
            timeout=30,
        )

    assert detail["enrichment_state"] == "done"
    assert detail["enrichment"]["registry"]["status"] == "ok"
    top = detail["suspects"][0]
    assert top["ref"] == f"{fraud} 2"
    assert top["reason"].startswith(f"{moved} less than a minute before the alert")
    refs = [s["ref"] for s in detail["suspects"]]
    assert f"{churn} 2" not in refs  # another service's model: context only
    context = detail["enrichment"]["suspects"]["data"]["changes"]
    relations = {c["summary"]: c["relation"] for c in context}
    assert relations[moved] == "same_service"
    assert relations[f"alias champion of {churn} set on 2"] == "other_service"
