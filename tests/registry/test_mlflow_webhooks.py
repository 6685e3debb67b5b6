"""MLflow's own webhooks, from a real MLflow server, into the bot served over real HTTP.

The registry operations are made with MLflow's client; MLflow signs and delivers them; opsbot
verifies, deduplicates and records them as model changes, with where each alias was before.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from mlflow import MlflowClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.app import build_app
from bot.config import Settings
from bot.registry.queries import describe, registry_changes
from bot.store.models import Delivery
from bot.store.registry_models import ModelRegistryEvent
from tests.support.app_server import served

T = TypeVar("T")
SECRET = "registry-webhook-secret"
EVENTS = [
    "model_version.created",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "model_version_tag.set",
    "registered_model.created",  # delivered, answered 200, kept in the inbox, not a change
]


@pytest.fixture
def bot_url(sqlite_url: str) -> Iterator[str]:
    app = build_app(Settings(database_url=sqlite_url, mlflow_webhook_secret=SECRET), migrate=False)
    with served(app) as url:
        yield url


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 15.0) -> T:
    """``read()`` once ``done`` says so (MLflow delivers from a thread pool), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def changes(engine: Engine, model: str) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(ModelRegistryEvent)
            .where(ModelRegistryEvent.model == model)
            .order_by(col(ModelRegistryEvent.id))
        ).all()
    return [describe(r) for r in rows]


def inbox(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery).where(Delivery.source == "mlflow")).all())


def test_registry_operations_arrive_signed_and_read_as_model_changes(
    mlflow: MlflowClient, bot_url: str, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    model = f"fraud-model-{uuid.uuid4().hex[:6]}"
    hook = mlflow.create_webhook(
        f"opsbot-{model}", f"{bot_url}/webhooks/mlflow", events=EVENTS, secret=SECRET
    )
    # One operation at a time, as people make them: MLflow delivers each from a thread pool, so
    # two made in the same instant may arrive in either order.
    steps = [
        (lambda: mlflow.create_model_version(model, "s3://models/fraud/1"),
         f"{model} version 1 registered"),
        (lambda: mlflow.set_registered_model_alias(model, "champion", "1"),
         f"alias champion of {model} set on 1"),
        (lambda: mlflow.create_model_version(model, "s3://models/fraud/2"),
         f"{model} version 2 registered"),
        (lambda: mlflow.set_registered_model_alias(model, "champion", "2"),
         f"alias champion of {model} moved 1 → 2"),
        (lambda: mlflow.set_model_version_tag(model, "2", "stage", "prod"),
         f"tag stage=prod set on {model} 2"),
        (lambda: mlflow.delete_registered_model_alias(model, "champion"),
         f"alias champion of {model} deleted (was on 2)"),
    ]  # fmt: skip
    started = datetime.now(UTC)
    try:
        mlflow.create_registered_model(model)
        eventually(lambda: inbox(engine), lambda rows: len(rows) == 1)
        for n, (operation, line) in enumerate(steps, 1):
            operation()
            seen = eventually(lambda: changes(engine, model), lambda c, n=n: len(c) >= n)
            assert seen[-1] == line
    finally:
        mlflow.delete_webhook(hook.webhook_id)

    assert changes(engine, model) == [line for _, line in steps]
    delivered = inbox(engine)
    assert len(delivered) == len(steps) + 1  # one inbox row per delivery, ignored ones too
    assert {d.result["status"] for d in delivered} == {"recorded", "ignored"}
    [ignored] = [d for d in delivered if d.result["status"] == "ignored"]
    assert ignored.result["event"] == "registered_model.created"

    with Session(engine) as session:
        found = registry_changes(
            session, [model, "another-model"], started - timedelta(minutes=1), datetime.now(UTC)
        )
    assert [c.summary for c in found] == [line for _, line in reversed(steps)]  # newest first
    moved = found[2]
    assert (moved.kind, moved.ref, moved.service, moved.source) == (
        "model",
        f"{model} 2",
        None,
        "registry",
    )
    assert moved.details == {
        "model": model,
        "version": "2",
        "event": "alias_set",
        "alias": "champion",
        "from_version": "1",
        "key": None,
        "value": None,
        "actor": None,  # a webhook does not say who; opsbot does not guess
    }
    assert found[1].details["event"] == "tag_set"
    assert (found[1].details["key"], found[1].details["value"]) == ("stage", "prod")
    assert found[0].ref == f"{model} 2"  # the deletion names the version that held the alias


def test_mlflow_test_delivery_is_accepted_and_a_wrong_secret_is_refused(
    mlflow: MlflowClient, bot_url: str, sqlite_engine: Engine
) -> None:
    """``test_webhook`` makes MLflow send its example payload now and report the answer."""
    engine = sqlite_engine
    url = f"{bot_url}/webhooks/mlflow"
    right = mlflow.create_webhook("opsbot-right", url, events=EVENTS[:1], secret=SECRET)
    wrong = mlflow.create_webhook("opsbot-wrong", url, events=EVENTS[:1], secret="not-it")
    unsigned = mlflow.create_webhook("opsbot-unsigned", url, events=EVENTS[:1])
    try:
        refused = [mlflow.test_webhook(w.webhook_id) for w in (wrong, unsigned)]
        assert [r.response_status for r in refused] == [401, 401]
        assert changes(engine, "example_model") == []
        assert inbox(engine) == []
        accepted = mlflow.test_webhook(right.webhook_id)
    finally:
        for hook in (right, wrong, unsigned):
            mlflow.delete_webhook(hook.webhook_id)
    assert (accepted.success, accepted.response_status) == (True, 200)
    assert changes(engine, "example_model") == ["example_model version 1 registered"]
