"""Driving the intake flows directly against a database, and reading back what they stored."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.incidents import alertmanager_flow
from bot.incidents.alertmanager_flow import IngestResult
from bot.intake.alertmanager_schema import AMPayload
from bot.store.models import Alert, Incident, OutboxMessage, TimelineEvent
from bot.store.tx import run_tx

CHANNEL = "C0INCIDENT"


def ingest(engine: Engine, payload: dict[str, Any], raw: bytes | None = None) -> IngestResult:
    body = raw if raw is not None else json.dumps(payload).encode()
    model = AMPayload.model_validate(payload)
    return run_tx(engine, lambda s: alertmanager_flow.ingest(s, model, body, CHANNEL))


def incidents(engine: Engine) -> list[Incident]:
    with Session(engine) as s:
        return list(s.exec(select(Incident).order_by(col(Incident.id))).all())


def alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as s:
        return list(s.exec(select(Alert).order_by(col(Alert.id))).all())


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def timeline_kinds(engine: Engine, incident_id: int) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(TimelineEvent.kind)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(col(TimelineEvent.id))
        ).all()
    return list(rows)
