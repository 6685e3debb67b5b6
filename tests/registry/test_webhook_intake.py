"""POST /webhooks/mlflow in process: deliveries signed by MLflow's own signer
(``mlflow.webhooks.delivery._generate_hmac_signature``) in MLflow's own shape; what is refused
(401, 400, 413, 503) stores nothing; a redelivery stores nothing new; a late delivery does not
move an alias back."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mlflow.webhooks.delivery import _generate_hmac_signature
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.registry.queries import describe
from bot.store.models import Delivery
from bot.store.registry_models import ModelAlias, ModelRegistryEvent
from tests.support.asgi import asgi_client, engine_of

URL = "/webhooks/mlflow"
SECRET = "mlflow-webhook-secret"
ALIAS = {"name": "fraud-model", "alias": "champion", "version": "7"}


def envelope(event: str, data: dict[str, Any], at: datetime | None = None) -> bytes:
    """The body MLflow posts (``_send_webhook_request``)."""
    entity, action = event.rsplit(".", 1)
    when = (at or datetime.now(UTC)).isoformat()
    return json.dumps(
        {"entity": entity, "action": action, "timestamp": when, "data": data}
    ).encode()


def signed(
    body: bytes,
    *,
    secret: str = SECRET,
    delivery_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """MLflow's headers for ``body``, signed as MLflow signs."""
    delivery_id = delivery_id or str(uuid.uuid4())
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": _generate_hmac_signature(secret, delivery_id, stamp, body.decode()),
    }


@pytest.fixture
async def client(make_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(make_app(mlflow_webhook_secret=SECRET)) as c:
        yield c


async def deliver(client: httpx.AsyncClient, event: str, data: dict[str, Any], **kw: Any) -> Any:
    body = envelope(event, data, kw.pop("at", None))
    response = await client.post(URL, content=body, headers=signed(body, **kw))
    assert response.status_code == 200, response.text
    return response.json()


def stored(engine: Engine) -> tuple[list[str], int]:
    """The recorded changes in words, and the number of inbox rows."""
    with Session(engine) as session:
        rows = session.exec(select(ModelRegistryEvent).order_by(ModelRegistryEvent.id)).all()  # type: ignore[arg-type]
        inbox = session.exec(select(Delivery).where(Delivery.source == "mlflow")).all()
    return [describe(r) for r in rows], len(inbox)


async def rejected(client: httpx.AsyncClient, reason: str) -> float:
    metrics = (await client.get("/metrics")).text
    prefix = f'opsbot_webhook_rejected_total{{reason="{reason}",source="mlflow"}} '
    return sum(
        float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix)
    )


def tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b'"7"', b'"8"'), signed(body)


def wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, secret="not-the-secret")


def stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, timestamp=int(time.time()) - 301)


def from_the_future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, timestamp=int(time.time()) + 301)


def unsigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(body)
    del headers["X-MLflow-Signature"]
    return body, headers


def no_delivery_id(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(body)
    del headers["X-MLflow-Delivery-Id"]
    return body, headers


def other_delivery_id(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**signed(body), "X-MLflow-Delivery-Id": str(uuid.uuid4())}


def not_base64(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**signed(body), "X-MLflow-Signature": "v1,not*base64"}


def other_scheme(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(body)
    return body, {
        **headers,
        "X-MLflow-Signature": headers["X-MLflow-Signature"].replace("v1", "v2"),
    }


@pytest.mark.parametrize(
    "forge",
    [
        tampered,
        wrong_secret,
        stale,
        from_the_future,
        unsigned,
        no_delivery_id,
        other_delivery_id,
        not_base64,
        other_scheme,
    ],
)
async def test_a_delivery_not_signed_now_with_the_secret_is_401_and_stores_nothing(
    client: httpx.AsyncClient, forge: Callable[[bytes], tuple[bytes, dict[str, str]]]
) -> None:
    body, headers = forge(envelope("model_version_alias.created", ALIAS))
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert "X-MLflow-Signature" in response.json()["error"]
    assert stored(engine_of(client)) == ([], 0)
    assert await rejected(client, "unauthorized") == 1


@pytest.mark.parametrize("configured", [None, ""], ids=["unset", "empty"])
async def test_without_a_secret_configured_every_delivery_is_refused(
    make_app: Callable[..., FastAPI], configured: str | None
) -> None:
    body = envelope("model_version_alias.created", ALIAS)
    async with asgi_client(make_app(mlflow_webhook_secret=configured)) as c:
        response = await c.post(URL, content=body, headers=signed(body, secret=""))
        assert response.status_code == 401
        assert stored(engine_of(c)) == ([], 0)


async def test_a_redelivery_answers_200_and_stores_nothing_new(client: httpx.AsyncClient) -> None:
    body = envelope("model_version_alias.created", ALIAS)
    headers = signed(body)
    first = await client.post(URL, content=body, headers=headers)
    again = await client.post(URL, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "recorded"
    assert first.json()["change"] == "alias champion of fraud-model set on 7"
    assert again.json() == {
        "status": "duplicate",
        "delivery_id": first.json()["delivery_id"],
        "change": None,
    }
    assert stored(engine_of(client)) == (["alias champion of fraud-model set on 7"], 1)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"entity": "model_version", "action": ', "malformed JSON"),
        (b"[]", "invalid payload"),
        (envelope("model_version.created", {"name": "m"}), "data.version is required"),
        (envelope("model_version.created", {"name": "m", "version": 3}), "version"),
        (envelope("model_version.created", {"name": "m", "version": "three"}), "version"),
        (envelope("model_version_alias.created", {"name": "m", "alias": "a"}), "version"),
        (envelope("model_version_tag.set", {"name": "m", "version": "1", "value": "x"}), "key"),
        (envelope("model_version.created", {"name": "", "version": "1"}), "name"),
        (
            envelope("model_version.created", {"name": "m", "version": "1"}).replace(
                b'"timestamp": "', b'"timestamp": "not a time'
            ),
            "timestamp",
        ),
        (
            envelope(
                "model_version.created",
                {"name": "m", "version": "1"},
                at=datetime(2099, 1, 1, tzinfo=UTC),
            ),
            "timestamp",
        ),
    ],
    ids=[
        "malformed",
        "not-an-object",
        "no-version",
        "number-version",
        "word-version",
        "alias-without-version",
        "tag-without-key",
        "empty-name",
        "bad-time",
        "future-time",
    ],
)
async def test_bad_content_with_a_good_signature_is_400_with_the_reason_and_stores_nothing(
    client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert stored(engine_of(client)) == ([], 0)
    assert await rejected(client, "400") == 1


async def test_an_event_opsbot_does_not_record_is_kept_in_the_inbox_and_ignored(
    client: httpx.AsyncClient,
) -> None:
    answer = await deliver(client, "prompt.created", {"name": "p", "tags": {}, "description": None})
    assert (answer["status"], answer["change"]) == ("ignored", None)
    assert stored(engine_of(client)) == ([], 1)
    with Session(engine_of(client)) as session:
        [row] = session.exec(select(Delivery)).all()
    assert row.result == {"status": "ignored", "event": "prompt.created", "change": None}


async def test_a_body_over_the_limit_is_413(make_app: Callable[..., FastAPI]) -> None:
    body = envelope(
        "model_version.created", {"name": "m", "version": "1", "description": "x" * 4096}
    )
    async with asgi_client(make_app(mlflow_webhook_secret=SECRET, max_body_bytes=2048)) as c:
        response = await c.post(URL, content=body, headers=signed(body))
        assert response.status_code == 413
        assert stored(engine_of(c)) == ([], 0)


async def test_a_delivery_id_longer_than_the_inbox_keeps_is_400(client: httpx.AsyncClient) -> None:
    body = envelope("model_version_alias.created", ALIAS)
    response = await client.post(URL, content=body, headers=signed(body, delivery_id="d" * 129))
    assert response.status_code == 400
    assert stored(engine_of(client)) == ([], 0)


async def test_the_database_down_is_503_so_that_mlflow_retries(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(
        mlflow_webhook_secret=SECRET, database_url="postgresql://postgres@127.0.0.1:1/none"
    )
    body = envelope("model_version_alias.created", ALIAS)
    async with asgi_client(app) as c:
        response = await c.post(URL, content=body, headers=signed(body))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


async def test_alias_moves_read_from_the_state_and_a_late_delivery_does_not_move_it_back(
    client: httpx.AsyncClient,
) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=2)
    tag = {"name": "fraud-model", "version": "8", "key": "stage", "value": "prod"}
    await deliver(
        client,
        "model_version.created",
        {"name": "fraud-model", "version": "8", "source": "s3://m/8", "tags": {"team": "risk"}},
        at=t0,
    )
    await deliver(client, "model_version_alias.created", ALIAS, at=t0)
    await deliver(
        client,
        "model_version_alias.created",
        {**ALIAS, "version": "8"},
        at=t0 + timedelta(seconds=2),
    )
    # Sent before the move to 8 but arriving after it: recorded, without a "from"; the alias stays.
    await deliver(
        client,
        "model_version_alias.created",
        {**ALIAS, "version": "6"},
        at=t0 + timedelta(seconds=1),
    )
    await deliver(client, "model_version_tag.set", tag, at=t0 + timedelta(seconds=3))
    await deliver(
        client,
        "model_version_alias.deleted",
        {"name": "fraud-model", "alias": "champion"},
        at=t0 + timedelta(seconds=4),
    )
    await deliver(
        client,
        "model_version_alias.created",
        {**ALIAS, "version": "8"},
        at=t0 + timedelta(seconds=5),
    )
    lines, inbox = stored(engine_of(client))
    assert lines == [
        "fraud-model version 8 registered",
        "alias champion of fraud-model set on 7",
        "alias champion of fraud-model moved 7 → 8",
        "alias champion of fraud-model set on 6",
        "tag stage=prod set on fraud-model 8",
        "alias champion of fraud-model deleted (was on 8)",
        "alias champion of fraud-model set on 8",
    ]
    assert inbox == len(lines)
    with Session(engine_of(client)) as session:
        alias = session.get(ModelAlias, ("fraud-model", "champion"))
    assert alias is not None
    assert alias.version == "8"
