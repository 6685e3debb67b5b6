"""A property-based corpus: hostile content on every endpoint, on SQLite and PostgreSQL.

For each generated request, with the database up:
- the answer is never a 5xx (a 5xx means the database is unavailable, nothing else);
- ``/healthz`` and ``/readyz`` stay 200;
- whatever was accepted reads back: an incident through ``GET /api/v1/incidents/{id}``, renders
  as valid Block Kit, exports as a summary, and its Slack messages go out (a Slack emulator that
  checks Block Kit as Slack does); a deploy or a lineage run through the reads that use them.

Derandomized, so CI sees the same examples every run; a database per test, kept across its
examples, so later examples meet what earlier ones stored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.lineage.queries import recent_runs
from bot.metrics import Metrics
from bot.outbox.sender import OutboxSender
from bot.store.models import Deployment, OutboxMessage, OutboxStatus
from tests.fakes.slack.api import SlackEmulator
from tests.fakes.slack.blocks import validate_blocks
from tests.support.asgi import AM_TOKEN, asgi_client, engine_of
from tests.support.hostile import encoded, name, numbers, text, times, wrong_type
from tests.support.pagerduty_requests import sign
from tests.support.payloads import ZERO
from tests.support.readback import assert_renders_and_exports, read_incident

API_TOKEN = "api-token"
API = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
CHANNEL = "C0INCIDENT"

CORPUS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
async def client(make_app: Callable[..., FastAPI], db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(database_url=db_url, api_token=API_TOKEN, incident_channel=CHANNEL)
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
def sender(client: httpx.AsyncClient, slack: SlackEmulator) -> OutboxSender:
    metrics = Metrics()
    transport = SlackWebTransport(make_web_client(slack.bot_token, slack.api_url, 2), metrics)
    return OutboxSender(engine_of(client), transport, metrics, channel_rate=500, channel_burst=500)


def sometimes_wrong(draw: st.DrawFn, body: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """``body`` with, now and then, one field of the wrong type or missing."""
    choice = draw(st.integers(0, 15))  # Hypothesis favours the ends: the middle is rare
    if choice == 6:
        body[draw(st.sampled_from(fields))] = draw(wrong_type)
    elif choice == 9:
        body.pop(draw(st.sampled_from(fields)), None)
    return body


# ── Bodies ─────────────────────────────────────────────────────────────────────────────────────

labels = st.dictionaries(name, text, max_size=4)


@st.composite
def am_alert(draw: st.DrawFn) -> dict[str, Any]:
    alert = {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": {
            "alertname": draw(text),
            "service": draw(text),
            "severity": draw(text),
            **draw(labels),
        },
        "annotations": {"summary": draw(text), **draw(labels)},
        "startsAt": draw(times),
        "endsAt": draw(st.one_of(st.just(ZERO), times)),
        "generatorURL": draw(text),
        "fingerprint": draw(st.one_of(st.sampled_from(["f1", "f2", "f3"]), name)),
    }
    return sometimes_wrong(draw, alert, list(alert))


@st.composite
def alertmanager_body(draw: st.DrawFn) -> bytes:
    alerts = draw(st.lists(am_alert(), min_size=1, max_size=3))
    body = {
        "version": "4",
        "groupKey": draw(st.one_of(st.sampled_from(["g1", "g2"]), text)),
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "receiver": draw(text),
        "alerts": alerts,
        "groupLabels": draw(labels),
        "commonLabels": draw(labels),
        "commonAnnotations": draw(labels),
        "externalURL": draw(text),
        "truncatedAlerts": draw(numbers),
    }
    return draw(encoded(sometimes_wrong(draw, body, list(body))))


@st.composite
def pagerduty_body(draw: st.DrawFn) -> bytes:
    reference = st.fixed_dictionaries({"id": name, "summary": text, "html_url": text})
    data = {
        "id": draw(st.one_of(st.sampled_from(["Q1", "Q2"]), name)),
        "type": "incident",
        "html_url": draw(text),
        "number": draw(st.one_of(st.none(), st.integers())),
        "status": draw(text),
        "title": draw(text),
        "incident_key": draw(st.one_of(st.none(), text)),
        "urgency": draw(text),
        "service": draw(reference),
        "priority": draw(st.one_of(st.none(), reference)),
    }
    event = {
        "id": draw(st.one_of(st.uuids().map(str), name)),
        "event_type": draw(
            st.sampled_from(
                ["incident.triggered", "incident.acknowledged", "incident.resolved", "x.y"]
            )
        ),
        "resource_type": "incident",
        "occurred_at": draw(times),
        "agent": draw(st.one_of(st.none(), reference)),
        "data": sometimes_wrong(draw, data, list(data)),
    }
    return draw(encoded({"event": sometimes_wrong(draw, event, list(event))}))


@st.composite
def deploy_body(draw: st.DrawFn) -> bytes:
    body = {
        "service": draw(name),
        "kind": draw(st.sampled_from(["code", "model"])),
        "version": draw(name),
        "environment": draw(name),
        "commit": draw(st.one_of(st.none(), name)),
        "actor": draw(st.one_of(st.none(), text)),
        "timestamp": draw(times),
        "url": draw(st.one_of(st.none(), st.just("https://ci.example/1"))),
    }
    return draw(encoded(sometimes_wrong(draw, body, list(body))))


facets = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, text),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(name, children, max_size=3)
    ),
    max_leaves=12,
)


@st.composite
def lineage_body(draw: st.DrawFn) -> bytes:
    dataset = st.fixed_dictionaries(
        {"namespace": name, "name": name, "facets": st.dictionaries(name, facets, max_size=3)}
    )
    body = {
        "eventType": draw(st.sampled_from(["START", "COMPLETE", "FAIL", "ABORT", "OTHER"])),
        "eventTime": draw(times),
        "run": {"runId": str(draw(st.uuids())), "facets": draw(st.dictionaries(name, facets))},
        "job": {"namespace": draw(name), "name": draw(name)},
        "producer": draw(name),
        "schemaURL": draw(name),
        "inputs": draw(st.lists(dataset, max_size=2)),
        "outputs": draw(st.lists(dataset, max_size=2)),
    }
    return draw(encoded(sometimes_wrong(draw, body, list(body))))


# ── What must hold after each request ──────────────────────────────────────────────────────────


async def assert_service_healthy(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def assert_incidents_usable(
    client: httpx.AsyncClient, sender: OutboxSender, incident_ids: list[int]
) -> None:
    engine = engine_of(client)
    for incident_id in incident_ids:
        await read_incident(client, incident_id, API)
        assert_renders_and_exports(engine, incident_id)
    await sender.drain()
    with Session(engine) as s:
        for row in s.exec(select(OutboxMessage)).all():
            assert row.status in (OutboxStatus.SENT, OutboxStatus.MERGED), row.last_error
            if row.blocks:
                assert validate_blocks(row.blocks) == []
    listed = await client.get("/api/v1/incidents?status=all&limit=500", headers=API)
    assert listed.status_code == 200


def answered(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx; {} for anything else, which must not be a 5xx."""
    assert response.status_code < 500, response.text
    # What the schema accepts the database stores: a refusal by the database is a gap in the
    # checks (and a lost alert), not an answer.
    assert "SQLSTATE" not in response.text
    event(f"HTTP {response.status_code}")
    if response.status_code == 400:
        event(response.json()["error"][:70])
    if not 200 <= response.status_code < 300:
        return {}
    body: dict[str, Any] = response.json()
    return body


# ── The corpus ────────────────────────────────────────────────────────────────────────────────


@CORPUS
@given(raw=alertmanager_body())
async def test_alertmanager_payloads(
    client: httpx.AsyncClient, sender: OutboxSender, raw: bytes
) -> None:
    response = await client.post("/webhooks/alertmanager", content=raw, headers=AM)
    result = answered(response)
    await assert_service_healthy(client)
    if result:
        await assert_incidents_usable(client, sender, result["incidents"]["touched"])


@CORPUS
@given(raw=pagerduty_body())
async def test_pagerduty_payloads(
    client: httpx.AsyncClient, sender: OutboxSender, raw: bytes
) -> None:
    headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": sign(raw)}
    result = answered(await client.post("/webhooks/pagerduty", content=raw, headers=headers))
    await assert_service_healthy(client)
    if result.get("incident_id") is not None:
        await assert_incidents_usable(client, sender, [result["incident_id"]])


@CORPUS
@given(raw=deploy_body())
async def test_deploy_events(client: httpx.AsyncClient, raw: bytes) -> None:
    result = answered(await client.post("/api/v1/deployments", content=raw, headers=API))
    await assert_service_healthy(client)
    if result:
        with Session(engine_of(client)) as s:
            row = s.get(Deployment, result["id"])
            assert row is not None
            json.dumps(row.model_dump(mode="json"), ensure_ascii=False).encode()
        assert (await client.get("/api/v1/report?since=365d", headers=API)).status_code == 200


@CORPUS
@given(raw=lineage_body())
async def test_lineage_events(client: httpx.AsyncClient, raw: bytes) -> None:
    result = answered(await client.post("/api/v1/lineage", content=raw, headers=API))
    await assert_service_healthy(client)
    if result.get("run_id"):
        with Session(engine_of(client)) as s:
            runs = recent_runs(s, limit=500)
        assert result["run_id"] in {r.run_id for r in runs}
        json.dumps([repr(r) for r in runs], ensure_ascii=False).encode()


query_value = st.one_of(
    text,
    st.integers().map(str),
    st.sampled_from(["99999999999999999999", "-1", "0", "1e9", "30d", "99999999999999999999d"]),
    times.map(str),
)


@CORPUS
@given(
    status=query_value,
    limit=query_value,
    incident_id=query_value,
    since=query_value,
    until=query_value,
)
async def test_read_api(
    client: httpx.AsyncClient,
    status: str,
    limit: str,
    incident_id: str,
    since: str,
    until: str,
) -> None:
    for path in (
        f"/api/v1/incidents?status={q(status)}&limit={q(limit)}",
        f"/api/v1/incidents/{q(incident_id)}",
        f"/api/v1/report?since={q(since)}",
        f"/api/v1/report?until={q(until)}",
        f"/api/v1/report?since={q(since)}&until={q(until)}",
    ):
        answered(await client.get(path, headers=API))
    await assert_service_healthy(client)


def q(value: str) -> str:
    """``value`` percent-encoded as UTF-8; a lone surrogate as the bytes it would be."""
    return quote(value, safe="", errors="surrogatepass")
