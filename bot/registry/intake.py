"""An MLflow webhook delivery: what it says changed, and storing it once.

``change_of`` reads the delivery's data for the events opsbot records (a 400 naming the field
when it does not fit); ``ingest`` keeps the delivery in the inbox (``delivery``, source
``mlflow``, deduplicated on ``X-MLflow-Delivery-Id``: MLflow retries with the same id) and
records the change, in the caller's transaction: all of it or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select

from bot.errors import IntakeError
from bot.intake.json_body import validation_reason
from bot.intake.mlflow_schema import (
    HANDLED,
    AliasCreated,
    AliasDeleted,
    MLflowDelivery,
    TagSet,
    VersionCreated,
)
from bot.registry.queries import describe
from bot.registry.store import Change, record
from bot.store.models import Delivery
from bot.store.registry_models import RegistryEventKind

SOURCE = "mlflow"  # the inbox's source
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Ingested:
    status: str  # recorded | duplicate | ignored
    delivery_id: int | None  # the inbox row
    change: str | None = None  # the recorded change in words


class _Data(BaseModel, Generic[M]):
    data: M  # so that a reason names the field as the body has it: "data.version"


def _data(model: type[M], delivery: MLflowDelivery) -> M:
    try:
        return _Data[model].model_validate({"data": delivery.data}).data  # type: ignore[valid-type]
    except ValidationError as exc:
        raise IntakeError(400, validation_reason(exc, f"invalid {delivery.event}")) from None


def change_of(delivery_id: str, delivery: MLflowDelivery) -> Change | None:
    """What the delivery says changed; None for an event opsbot does not record.
    ``IntakeError(400)`` when its data is not what MLflow sends for that event."""
    if delivery.event not in HANDLED:
        return None
    key, at = f"webhook:{delivery_id}", delivery.timestamp
    if delivery.entity == "model_version":
        created = _data(VersionCreated, delivery)
        return Change(
            key,
            "webhook",
            created.name,
            RegistryEventKind.VERSION_CREATED,
            at,
            version=created.version,
            tags=created.tags,
        )
    if delivery.event == "model_version_alias.created":
        moved = _data(AliasCreated, delivery)
        kind = RegistryEventKind.ALIAS_SET
        return Change(key, "webhook", moved.name, kind, at, moved.version, alias=moved.alias)
    if delivery.event == "model_version_alias.deleted":
        gone = _data(AliasDeleted, delivery)
        kind = RegistryEventKind.ALIAS_DELETED
        return Change(key, "webhook", gone.name, kind, at, alias=gone.alias)
    tag = _data(TagSet, delivery)
    return Change(
        key,
        "webhook",
        tag.name,
        RegistryEventKind.TAG_SET,
        at,
        tag.version,
        tag_key=tag.key,
        tag_value=tag.value,
    )


def ingest(
    session: Session, delivery_id: str, delivery: MLflowDelivery, change: Change | None, raw: bytes
) -> Ingested:
    """The delivery in the inbox and, for an event opsbot records, the change (once)."""
    seen = session.exec(
        select(Delivery.id).where(Delivery.source == SOURCE, Delivery.dedupe_key == delivery_id)
    ).first()
    if seen is not None:
        return Ingested("duplicate", seen)
    row = record(session, change) if change is not None else None
    status = "ignored" if change is None else ("recorded" if row is not None else "duplicate")
    line = describe(row) if row is not None else None
    inbox = Delivery(
        source=SOURCE,
        dedupe_key=delivery_id,
        body=raw.decode("utf-8"),
        result={"status": status, "event": delivery.event, "change": line},
    )
    session.add(inbox)
    session.flush()
    return Ingested(status, inbox.id, line)
