"""PostgreSQL stores the commonest delivery (one new firing alert joining its group's open
incident) in one statement (bot/incidents/alertmanager_sql.py): it must store exactly what the
statement-by-statement path stores."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session

from bot.incidents import alertmanager_flow, alertmanager_sql
from bot.store.engine import make_engine
from bot.store.models import Delivery
from tests.support.payloads import am_alert, am_payload
from tests.support.store import alerts, incidents, ingest, outbox

# What differs between two groups by construction, or by when it was written.
VARIES = {"id", "incident_id", "fingerprint", "starts_at", "updated_at", "next_attempt_at"}
VARIES |= {"created_at", "received_at", "at"}


def _stored(engine: Engine, service: str) -> str:
    """What a group's second delivery left (its alert, timeline entry, messages, delivery),
    with the group's service name written as ``S``."""
    ingest(engine, am_payload(service, [am_alert(service, 1)]))
    second = ingest(engine, am_payload(service, [am_alert(service, 2)]))
    [incident] = [i for i in incidents(engine) if i.service == service]
    with Session(engine) as s:
        [event] = s.execute(
            text(
                "SELECT kind, actor, text FROM timeline_event WHERE incident_id = :i"
                " AND kind = 'alert_firing' ORDER BY id DESC LIMIT 1"
            ),
            {"i": incident.id},
        ).all()
        delivery = s.execute(select(Delivery).where(Delivery.id == second.delivery_id)).scalar_one()
    messages = [m for m in outbox(engine) if m.incident_id == incident.id][-2:]
    alert = [a for a in alerts(engine) if a.incident_id == incident.id][-1]
    stored: dict[str, Any] = {
        "alert": {k: v for k, v in alert.model_dump().items() if k not in VARIES},
        "event": (event.kind, event.actor, event.text),
        "messages": [
            {k: v for k, v in m.model_dump().items() if k not in VARIES} for m in messages
        ],
        "ordered": messages[0].id < messages[1].id,
        "delivery": (delivery.source, delivery.result["alerts"], delivery.result["duplicate"]),
        "touched": second.incidents_touched == [incident.id],
    }
    return repr(stored).replace(service, "S")


def test_one_statement_stores_what_the_statements_store(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[int] = []
    store = alertmanager_sql.store_one_new_alert

    def counted(*args: Any) -> int:
        used.append(1)
        return store(*args)

    monkeypatch.setattr(alertmanager_sql, "store_one_new_alert", counted)
    engine = make_engine(postgres_url)
    try:
        one = _stored(engine, "one-statement")
        assert used == [1]  # the second delivery went the one-statement way
        monkeypatch.setattr(
            alertmanager_flow, "_one_new_firing_alert_joins_its_group", lambda *a: False
        )
        apart = _stored(engine, "statements")
        assert used == [1]
    finally:
        engine.dispose()
    assert one == apart
    assert "'kind': 'root_update'" in one
    assert "'kind': 'reply'" in one
    assert "'ordered': True" in one
    assert "'touched': True" in one
