"""Registry changes as enrichment's change events (``kind="model"``, ``source="registry"``), and
each in words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from bot.enrich.types import ChangeEvent
from bot.store.registry_models import ModelRegistryEvent, RegistryEventKind


def describe(row: ModelRegistryEvent) -> str:
    """One line a responder reads: "alias champion of fraud-model moved 7 → 8 by alice"."""
    by = f" by {row.actor}" if row.actor else ""
    if row.event == RegistryEventKind.ALIAS_SET:
        if row.from_version is None:
            where = f"set on {row.version}"
        elif row.from_version == row.version:
            where = f"set again on {row.version}"
        else:
            where = f"moved {row.from_version} → {row.version}"
        return f"alias {row.alias} of {row.model} {where}{by}"
    if row.event == RegistryEventKind.ALIAS_DELETED:
        was = f" (was on {row.version})" if row.version else ""
        return f"alias {row.alias} of {row.model} deleted{was}{by}"
    if row.event == RegistryEventKind.TAG_SET:
        return f"tag {row.tag_key}={row.tag_value} set on {row.model} {row.version}{by}"
    return f"{row.model} version {row.version} registered{by}"


def change_event(row: ModelRegistryEvent) -> ChangeEvent:
    return ChangeEvent(
        kind="model",
        ref=f"{row.model} {row.version}" if row.version else row.model,
        service=None,  # placed by the catalog's ``model`` (bot/enrich/relations.py)
        at=row.at,
        source="registry",
        summary=describe(row),
        details={
            "model": row.model,
            "version": row.version,
            "event": row.event,
            "alias": row.alias,
            "from_version": row.from_version,
            "key": row.tag_key,
            "value": row.tag_value,
            "actor": row.actor,
        },
    )


def registry_changes(
    session: Session,
    models: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    limit: int = 200,
) -> list[ChangeEvent]:
    """What happened to ``models`` in the registry in ``[since, until]``, newest first."""
    if not models or limit <= 0:
        return []
    rows = session.exec(
        select(ModelRegistryEvent)
        .where(
            col(ModelRegistryEvent.model).in_(sorted(set(models))),
            col(ModelRegistryEvent.at) >= since,
            col(ModelRegistryEvent.at) <= until,
        )
        .order_by(col(ModelRegistryEvent.at).desc(), col(ModelRegistryEvent.id).desc())
        .limit(limit)
    ).all()
    return [change_event(row) for row in rows]
