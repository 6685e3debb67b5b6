"""The ``oncall`` enrichment source: it reads who PagerDuty has on call for the incident's service
(under its own deadline, like every source), stores the name on the incident, and the root
names them; a PagerDuty failure is that source's alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.catalog.load import parse_catalog
from bot.clients.pagerduty import PagerDutyClient
from bot.clients.set import Clients
from bot.enrich.runner import Enricher
from bot.render.blocks import root_message
from bot.store.models import Enrichment, Incident, OutboxKind, OutboxMessage
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.support.paging import CATALOG, POLICY, client_of, paging_fake
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with paging_fake(NOW) as fake:
        yield fake


@pytest.fixture
def client(pd: PagerDutyFake) -> Iterator[PagerDutyClient]:
    adapter = client_of(pd)
    yield adapter
    adapter.close()


def enricher(engine: Engine, client: PagerDutyClient | None) -> Enricher:
    return Enricher(
        engine,
        parse_catalog(CATALOG),
        Clients(pagerduty=client),
        timeout_s=5.0,
        lookback=timedelta(hours=2),
        metrics_window=timedelta(minutes=30),
    )


def opened(engine: Engine, service: str) -> int:
    ingest(engine, am_payload(service, [am_alert(service, 1)]))
    with Session(engine) as session:
        found = session.exec(select(Incident).where(Incident.service == service)).first()
        assert found is not None
        assert found.id is not None
        return found.id


def row(engine: Engine, incident_id: int, source: str) -> Enrichment:
    with Session(engine) as session:
        found = session.exec(
            select(Enrichment).where(
                Enrichment.incident_id == incident_id, Enrichment.source == source
            )
        ).first()
        assert found is not None
        return found


def incident(engine: Engine, incident_id: int) -> Incident:
    with Session(engine) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found


async def test_the_root_names_who_is_on_call_for_the_service(
    sqlite_engine: Engine, client: PagerDutyClient
) -> None:
    incident_id = opened(sqlite_engine, "fraud-scorer")
    outcome = await enricher(sqlite_engine, client).enrich(incident_id)
    assert outcome is not None
    source = row(sqlite_engine, incident_id, "oncall")
    assert source.status == "ok", source.reason
    assert source.data["name"] == "Dana Scully"
    assert source.data["email"] == "dana@example.com"
    assert source.data["until"] == (NOW + timedelta(hours=4)).isoformat()
    assert source.data["next"] == "Fox Mulder"
    assert source.data["escalation_policy"] == POLICY
    assert [level["name"] for level in source.data["levels"]] == ["Dana Scully", "Walter Skinner"]
    stored = incident(sqlite_engine, incident_id)
    assert stored.oncall == "Dana Scully"
    _, blocks = root_message(stored, 1, 1)
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*On call*\nDana Scully" in fields
    with Session(sqlite_engine) as session:
        redraws = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.incident_id == incident_id,
                OutboxMessage.kind == OutboxKind.ROOT_UPDATE,
            )
        ).all()
    assert redraws  # the root is drawn again with the name


async def test_a_pagerduty_failure_is_the_oncall_sources_alone(
    sqlite_engine: Engine, client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    incident_id = opened(sqlite_engine, "fraud-scorer")
    pd.fail_next(status=503, path="/oncalls")
    await enricher(sqlite_engine, client).enrich(incident_id)
    source = row(sqlite_engine, incident_id, "oncall")
    assert source.status == "unavailable"
    assert source.reason == "pagerduty: Internal Server Error"
    assert row(sqlite_engine, incident_id, "deploys").status == "ok"
    assert incident(sqlite_engine, incident_id).oncall is None
    _, blocks = root_message(incident(sqlite_engine, incident_id), 1, 1)
    assert not any("On call" in f["text"] for f in blocks[1]["fields"])


async def test_without_pagerduty_or_paging_the_source_is_not_configured(
    sqlite_engine: Engine, client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    unpaged = opened(sqlite_engine, "batch-scorer")
    await enricher(sqlite_engine, client).enrich(unpaged)
    assert row(sqlite_engine, unpaged, "oncall").status == "not_configured"
    other = opened(sqlite_engine, "fraud-scorer")
    await enricher(sqlite_engine, None).enrich(other)
    source = row(sqlite_engine, other, "oncall")
    assert (source.status, source.reason) == ("not_configured", "PagerDuty is not configured")
    assert pd.requests(path="/oncalls") == []
