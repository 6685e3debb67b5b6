"""No 5xx for content: what a body *contains* gets a 4xx with the reason, or is stored so that it
reads back, renders and exports. A 5xx means only that the database is unavailable.

Every endpoint that takes JSON, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, select

from bot.incidents import alertmanager_flow
from bot.store.models import Deployment
from tests.support.asgi import AM_TOKEN, asgi_client, engine_of
from tests.support.pagerduty_requests import pd_event, sign
from tests.support.payloads import am_alert, am_payload
from tests.support.readback import assert_outbox_drains, assert_renders_and_exports, read_incident

API_TOKEN = "api-token"
API = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
RUN = "0190f1a2-0000-7000-8000-0000000000aa"
OVERFLOWING = ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+01:00"]


@pytest.fixture
async def client(make_app: Callable[..., FastAPI], db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(make_app(database_url=db_url, api_token=API_TOKEN)) as c:
        yield c


def alert_body(**changes: Any) -> dict[str, Any]:
    alert = am_alert("fraud-scorer", 1)
    alert.update(changes)
    return am_payload("fraud-scorer", [alert])


def deploy_body(**changes: Any) -> dict[str, Any]:
    body = {"service": "fraud-scorer", "kind": "model", "version": "1.4.2"}
    body["timestamp"] = "2026-11-27T04:49:00Z"
    body.update(changes)
    return body


def lineage_body(**changes: Any) -> dict[str, Any]:
    body = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-27T02:00:00Z",
        "run": {"runId": RUN},
        "job": {"namespace": "etl", "name": "build_transactions"},
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    body.update(changes)
    return body


def pd_body(occurred_at: str = "2026-11-27T05:00:00Z", **data: Any) -> dict[str, Any]:
    body = pd_event("incident.triggered", event_id="EV1")
    body["event"]["occurred_at"] = occurred_at
    body["event"]["data"].update(data)
    return body


async def send(client: httpx.AsyncClient, endpoint: str, raw: bytes) -> httpx.Response:
    """POST ``raw`` to ``endpoint`` (``alertmanager``, ``pagerduty``, ``deployments``,
    ``lineage``) with its credentials."""
    if endpoint == "alertmanager":
        return await client.post("/webhooks/alertmanager", content=raw, headers=AM)
    if endpoint == "pagerduty":
        headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": sign(raw)}
        return await client.post("/webhooks/pagerduty", content=raw, headers=headers)
    return await client.post(f"/api/v1/{endpoint}", content=raw, headers=API)


BODIES: dict[str, Callable[..., dict[str, Any]]] = {
    "alertmanager": alert_body,
    "pagerduty": pd_body,
    "deployments": deploy_body,
    "lineage": lineage_body,
}
ENDPOINTS = list(BODIES)


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()  # ASCII, with \u escapes: how lone surrogates travel


# ── The body parser ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_json_nested_30000_deep_is_400(client: httpx.AsyncClient, endpoint: str) -> None:
    body = BODIES[endpoint]()
    raw = encoded(body)[:-1] + b', "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    response = await send(client, endpoint, raw)
    assert response.status_code == 400
    assert "nested" in response.json()["error"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be"])
async def test_json_in_utf16_or_utf32_is_400_naming_the_encoding(
    client: httpx.AsyncClient, endpoint: str, encoding: str
) -> None:
    raw = json.dumps(BODIES[endpoint]()).encode(encoding)
    response = await send(client, endpoint, raw)
    assert response.status_code == 400
    assert "must be UTF-8" in response.json()["error"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" * 5000, b"NaN", b"Infinity"])
async def test_numbers_no_database_or_python_can_hold_are_400(
    client: httpx.AsyncClient, endpoint: str, number: bytes
) -> None:
    raw = encoded(BODIES[endpoint]())[:-1] + b', "extra": ' + number + b"}"
    response = await send(client, endpoint, raw)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]


# ── Text: NUL and unpaired surrogates become U+FFFD, everywhere, and read back ────────────────


@pytest.mark.parametrize("char", ["\x00", chr(0xD800), chr(0xDFFF)], ids=["nul", "high", "low"])
async def test_unstorable_characters_in_alert_text_are_replaced_and_read_back(
    client: httpx.AsyncClient, char: str
) -> None:
    alert = am_alert("fraud-scorer", 1)
    alert["labels"][f"team{char}"] = f"ml{char}platform"
    alert["annotations"]["summary"] = f"latency{char}high"
    alert["fingerprint"] = f"fp{char}1"
    payload = am_payload("fraud-scorer", [alert])
    payload["commonLabels"]["service"] = f"fraud{char}scorer"
    response = await send(client, "alertmanager", encoded(payload))
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]["opened"]
    detail = await read_incident(client, incident_id, API)
    [stored] = detail["alerts"]
    assert stored["labels"]["team\ufffd"] == "ml\ufffdplatform"
    assert stored["fingerprint"] == "fp\ufffd1"
    assert detail["service"] == "fraud\ufffdscorer"
    # The same alert again (another body: not the inbox's dedupe) is recognised: the replacement
    # is deterministic.
    payload["receiver"] = "opsbot-2"
    again = await send(client, "alertmanager", encoded(payload))
    assert again.json()["alerts"]["deduplicated"] == 1
    assert_renders_and_exports(engine_of(client), incident_id)
    await assert_outbox_drains(engine_of(client))


@pytest.mark.parametrize("char", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
async def test_unstorable_characters_in_pagerduty_deploy_and_lineage_text_are_replaced(
    client: httpx.AsyncClient, char: str
) -> None:
    pd = await send(client, "pagerduty", encoded(pd_body(title=f"checkout{char}down")))
    assert pd.status_code == 200, pd.text
    detail = await read_incident(client, pd.json()["incident_id"], API)
    assert detail["title"] == "checkout\ufffddown"
    assert_renders_and_exports(engine_of(client), pd.json()["incident_id"])

    deploy = await send(client, "deployments", encoded(deploy_body(version=f"1.4{char}")))
    assert deploy.status_code == 201, deploy.text
    with Session(engine_of(client)) as s:
        assert s.exec(select(Deployment.version)).all() == ["1.4\ufffd"]

    job = {"namespace": "etl", "name": f"build{char}transactions"}
    lineage = await send(client, "lineage", encoded(lineage_body(job=job)))
    assert lineage.status_code == 201, lineage.text
    assert lineage.json()["job"] == "etl/build\ufffdtransactions"
    await assert_outbox_drains(engine_of(client))


async def test_long_text_for_bounded_columns_is_stored_cut_not_refused(
    client: httpx.AsyncClient,
) -> None:
    alert = am_alert("fraud-scorer", 1)
    alert["labels"].update(alertname="A" * 300, severity="S" * 40, service="s" * 200)
    payload = am_payload("fraud-scorer", [alert])
    payload["commonLabels"] = {}  # the incident takes the first alert's labels
    response = await send(client, "alertmanager", encoded(payload))
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]["opened"]
    detail = await read_incident(client, incident_id, API)
    assert (detail["severity"], detail["service"]) == ("S" * 32, "s" * 128)
    assert detail["alerts"][0]["alertname"] == "A" * 256
    assert detail["alerts"][0]["labels"]["alertname"] == "A" * 300  # the labels keep it all

    priority = {"id": "P1", "summary": "P" * 40}
    pd = await send(
        client, "pagerduty", encoded(pd_body(priority=priority, service={"summary": "x" * 200}))
    )
    assert pd.status_code == 200, pd.text
    detail = await read_incident(client, pd.json()["incident_id"], API)
    assert (detail["severity"], detail["service"]) == ("P" * 32, "x" * 128)
    await assert_outbox_drains(engine_of(client))


# ── Times: one rule, 400 when a time cannot be a real UTC time ────────────────────────────────


FIELDS = [
    ("alertmanager", "startsAt"),
    ("alertmanager", "endsAt"),
    ("pagerduty", "occurred_at"),
    ("deployments", "timestamp"),
    ("lineage", "eventTime"),
]


def with_time(endpoint: str, field: str, at: str) -> dict[str, Any]:
    if endpoint == "alertmanager":
        return alert_body(status="resolved", **{field: at})
    if endpoint == "pagerduty":
        return pd_body(occurred_at=at)
    return BODIES[endpoint](**{field: at})


@pytest.mark.parametrize(
    ("endpoint", "field", "at"),
    [
        (endpoint, field, at)
        for endpoint, field in FIELDS
        for at in OVERFLOWING
        if not (field == "endsAt" and at.startswith("0001"))  # year 1: Alertmanager's "no end"
    ],
)
async def test_times_that_overflow_in_utc_are_400_naming_the_field(
    client: httpx.AsyncClient, endpoint: str, field: str, at: str
) -> None:
    response = await send(client, endpoint, encoded(with_time(endpoint, field, at)))
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]
    assert "outside the calendar in UTC" in response.json()["error"]


@pytest.mark.parametrize("known", [False, True], ids=["new-incident", "known-incident"])
async def test_pagerduty_time_without_timezone_is_400(
    client: httpx.AsyncClient, known: bool
) -> None:
    if known:
        assert (await send(client, "pagerduty", encoded(pd_body()))).status_code == 200
    body = pd_event("incident.acknowledged" if known else "incident.triggered", event_id="EV2")
    body["event"]["occurred_at"] = "2026-11-27T05:10:00"
    response = await send(client, "pagerduty", encoded(body))
    assert response.status_code == 400
    assert "occurred_at" in response.json()["error"]


@pytest.mark.parametrize(("endpoint", "field"), FIELDS[2:])
async def test_a_time_that_has_not_happened_yet_is_400(
    client: httpx.AsyncClient, endpoint: str, field: str
) -> None:
    response = await send(
        client, endpoint, encoded(with_time(endpoint, field, "2999-01-01T00:00Z"))
    )
    assert response.status_code == 400
    assert "in the future" in response.json()["error"]


# ── The read API: ids and periods out of range ────────────────────────────────────────────────


@pytest.mark.parametrize(
    "incident_id", ["99999999999999999999", "9223372036854775808", "2147483648", "0", "-1"]
)
async def test_an_id_that_cannot_exist_is_404(client: httpx.AsyncClient, incident_id: str) -> None:
    response = await client.get(f"/api/v1/incidents/{incident_id}", headers=API)
    assert response.status_code == 404
    assert response.json()["error"] == f"no incident {incident_id}"


@pytest.mark.parametrize(
    "query",
    [
        "since=99999999999999999999d",
        "since=99999999999999999999h",
        "until=0001-01-01T00:00:00Z",
        "until=1970-01-01T00:00:00Z",
        "until=9999-12-31T23:59:59Z",
        "until=9999-12-31T23:00:00-14:00",
        "since=0001-01-01T00:00:00%2B01:00",
        "since=0001-01-01&until=0001-06-01",
    ],
)
async def test_a_period_out_of_range_is_400(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/report?{query}", headers=API)
    assert response.status_code == 400, response.text
    assert response.json()["error"]


# ── Storage errors: 400 when the database refuses a value, 503 only when it is unavailable ─────


def failing_ingest(exc: Exception) -> Callable[..., Any]:
    def ingest(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return ingest


@pytest.mark.parametrize("error", [DataError, IntegrityError])
async def test_a_value_the_database_refuses_is_400_not_a_retry_storm(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, error: type[DBAPIError]
) -> None:
    # IntegrityError: raised on every attempt, so still there after run_tx's retries.
    refused = error("INSERT ...", {"text": "x"}, Exception("refused"))
    monkeypatch.setattr(alertmanager_flow, "ingest", failing_ingest(refused))
    response = await send(client, "alertmanager", encoded(alert_body()))
    assert response.status_code == 400
    assert "cannot be stored" in response.json()["error"]
    assert "retry-after" not in response.headers


async def test_storage_failures_log_the_delivery_and_class_never_the_payload(
    make_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "password=hunter2-in-an-annotation"
    body = alert_body(annotations={"summary": secret})
    app = make_app(database_url="postgresql://postgres@127.0.0.1:1/none", api_token=API_TOKEN)
    caplog.set_level(logging.DEBUG)
    async with asgi_client(app) as c:
        responses = [
            await send(c, "alertmanager", encoded(body)),
            await send(c, "pagerduty", encoded(pd_body(title=secret))),
            await send(c, "deployments", encoded(deploy_body(actor=secret))),
            await send(c, "lineage", encoded(lineage_body(job={"namespace": "e", "name": secret}))),
            await c.get("/api/v1/incidents/1", headers=API),
            await c.get("/api/v1/report", headers=API),
        ]
    assert [r.status_code for r in responses] == [503] * 6
    assert all(r.headers["retry-after"] == "5" for r in responses)
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
    )
    assert "hunter2" not in logged
    assert "OperationalError" in logged
    assert "alertmanager delivery" in logged


async def test_a_database_error_message_with_parameters_is_not_logged(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    down = OperationalError("INSERT ...", {"text": "token=xoxb-secret"}, Exception("gone"))
    monkeypatch.setattr(alertmanager_flow, "ingest", failing_ingest(down))
    caplog.set_level(logging.DEBUG)
    response = await send(client, "alertmanager", encoded(alert_body()))
    assert response.status_code == 503
    assert "xoxb-secret" not in caplog.text
    assert "OperationalError" in caplog.text
