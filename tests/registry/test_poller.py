"""The registry poller against the real MLflow server (no webhook): the same changes the webhook
records, each once however often it polls, after a restart, or with two replicas polling at
once (PostgreSQL); and the ``registry`` background loop where it is configured."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from mlflow import MlflowClient
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.app import build_app
from bot.clients.mlflow_registry import MlflowRegistryClient
from bot.config import Settings
from bot.errors import ExternalServiceError
from bot.registry.poller import RegistryPoller, registry_key
from bot.registry.queries import registry_changes
from bot.store.engine import make_engine, session_scope
from bot.store.registry_models import ModelRegistryEvent
from tests.support.app_server import served
from tests.support.mlflow_server import MLflowServer
from tests.support.server import free_port


def new_model(mlflow: MlflowClient, prefix: str = "fraud-model") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    mlflow.create_registered_model(name)
    return name


@pytest.fixture
def poller(mlflow_server: MLflowServer) -> Iterator[Callable[[Engine], RegistryPoller]]:
    """``poller(engine)``: a poller of the MLflow server (a replica, or one after a restart)."""
    with ExitStack() as clients:

        def make(engine: Engine) -> RegistryPoller:
            reader = clients.enter_context(MlflowRegistryClient(mlflow_server.url))
            return RegistryPoller(engine, reader, mlflow_server.url, interval_s=60)

        yield make


def of(model: str, lines: list[str]) -> list[str]:
    """The lines about ``model`` (the server is shared with the other tests' models)."""
    return [line for line in lines if f" {model} " in f" {line} "]


def test_polls_record_versions_aliases_and_tags_once_each(
    mlflow: MlflowClient, poller: Callable[[Engine], RegistryPoller], sqlite_engine: Engine
) -> None:
    model = new_model(mlflow)
    v1 = mlflow.create_model_version(model, "s3://models/fraud/1", tags={"team": "risk"})
    mlflow.set_registered_model_alias(model, "champion", "1")
    polls = poller(sqlite_engine)

    # The first pass: versions with their registration time; the aliases found are taken as
    # they are (when they were set is unknown), the version's own tags too.
    assert of(model, polls.poll_once()) == [f"{model} version 1 registered"]
    assert polls.poll_once() == []

    mlflow.create_model_version(model, "s3://models/fraud/2")
    mlflow.set_registered_model_alias(model, "champion", "2")
    mlflow.set_registered_model_alias(model, "challenger", "1")
    mlflow.set_model_version_tag(model, "1", "stage", "retired")
    seen_at = datetime.now(UTC)
    assert polls.poll_once() == [
        f"tag stage=retired set on {model} 1",
        f"{model} version 2 registered",
        f"alias challenger of {model} set on 1",
        f"alias champion of {model} moved 1 → 2",
    ]
    mlflow.delete_registered_model_alias(model, "champion")
    assert polls.poll_once() == [f"alias champion of {model} deleted (was on 2)"]
    assert poller(sqlite_engine).poll_once() == []  # after a restart: nothing

    # A model registered after the first pass: its aliases are changes made since.
    later = new_model(mlflow, "churn-model")
    mlflow.create_model_version(later, "s3://models/churn/1")
    mlflow.set_registered_model_alias(later, "champion", "1")
    assert polls.poll_once() == [
        f"{later} version 1 registered",
        f"alias champion of {later} set on 1",
    ]

    with Session(sqlite_engine) as session:
        found = registry_changes(session, [model], seen_at - timedelta(days=1), datetime.now(UTC))
    assert [c.details["event"] for c in found] == [
        "alias_deleted",
        "alias_set",
        "alias_set",
        "tag_set",
        "version_created",
        "version_created",
    ]
    registered = found[-1]
    assert registered.ref == f"{model} 1"
    assert registered.at == datetime.fromtimestamp(v1.creation_timestamp / 1000, UTC)
    assert registered.details["actor"] is None  # MLflow without authentication names nobody
    moved = found[1]
    assert (moved.summary, moved.details["from_version"]) == (
        f"alias champion of {model} moved 1 → 2",
        "1",
    )
    assert seen_at <= moved.at <= datetime.now(UTC)  # when the poller saw it


def test_two_pollers_at_once_record_each_change_once_on_postgresql(
    mlflow: MlflowClient, poller: Callable[[Engine], RegistryPoller], postgres_url: str
) -> None:
    model = new_model(mlflow)
    mlflow.create_model_version(model, "s3://models/fraud/1")
    engines = [make_engine(postgres_url) for _ in range(2)]
    replicas = [poller(engine) for engine in engines]

    def both() -> list[str]:
        with ThreadPoolExecutor(2) as pool:
            passes = list(pool.map(lambda p: p.poll_once(), replicas))
        return sorted(line for lines in passes for line in of(model, lines))

    try:
        assert both() == [f"{model} version 1 registered"]
        mlflow.create_model_version(model, "s3://models/fraud/2")
        mlflow.set_registered_model_alias(model, "champion", "1")
        mlflow.set_registered_model_alias(model, "champion", "2")
        mlflow.set_model_version_tag(model, "1", "stage", "prod")
        assert both() == [
            f"alias champion of {model} set on 2",
            f"{model} version 2 registered",
            f"tag stage=prod set on {model} 1",
        ]
        assert both() == []
        with Session(engines[0]) as session:
            count = session.exec(
                select(func.count()).where(ModelRegistryEvent.model == model)  # type: ignore[arg-type]
            ).one()
            row = session.exec(select(ModelRegistryEvent).limit(1)).one()
        assert count == 4
        # What keeps a change single when the lock is not enough: the database's own constraint.
        twin = ModelRegistryEvent(**row.model_dump(exclude={"id"}))
        with pytest.raises(IntegrityError), session_scope(engines[1]) as session:
            session.add(twin)
    finally:
        for engine in engines:
            engine.dispose()


def test_the_registry_loop_runs_only_where_configured(
    mlflow: MlflowClient, mlflow_server: MLflowServer, sqlite_url: str, sqlite_engine: Engine
) -> None:
    model = new_model(mlflow)
    mlflow.create_model_version(model, "s3://models/fraud/1")
    without = build_app(Settings(database_url=sqlite_url), migrate=False)
    with served(without) as url:
        assert "registry" not in httpx.get(f"{url}/readyz").json()["leads"]
    settings = Settings(
        database_url=sqlite_url, mlflow_tracking_uri=mlflow_server.url, mlflow_poll_s=0.2
    )
    with served(build_app(settings, migrate=False)) as url:
        assert "registry" in httpx.get(f"{url}/readyz").json()["leads"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with Session(sqlite_engine) as session:
                found = registry_changes(
                    session, [model], datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
                )
            if found:
                break
            time.sleep(0.1)
    assert [c.summary for c in found] == [f"{model} version 1 registered"]


def test_an_unreachable_registry_is_an_external_service_error_after_the_retries() -> None:
    waits: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    client = MlflowRegistryClient(url, retries=2, sleep=waits.append, token="t0ken")
    with client, pytest.raises(ExternalServiceError) as caught:
        client.registered_models()
    assert (caught.value.system, caught.value.status) == ("mlflow", None)
    assert "cannot reach" in caught.value.detail
    assert "t0ken" not in str(caught.value)
    assert len(waits) == 2


def test_the_registry_is_named_without_its_credentials() -> None:
    assert registry_key("https://bot:s3cret@mlflow.example.com:5000/") == (
        "https://mlflow.example.com:5000"
    )
