"""Recording registry changes, once each, with where every alias pointed before.

The webhook (``bot/registry/intake.py``) and the poller (``bot/registry/poller.py``) describe
what happened as a ``Change``; ``record`` stores it under its dedupe key and keeps the alias and
tag state current, so an alias event reads "moved 7 → 8" although MLflow sends only the new
holder.

Once: the writers of one model take turns (``lock_for``: a PostgreSQL advisory lock; SQLite has
one writer anyway), and the dedupe key is unique, so a redelivery, a second replica polling, or
a poll after a restart records nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlmodel import Session, select

from bot.store.registry_models import (
    ModelAlias,
    ModelRegistryEvent,
    ModelVersionTag,
    RegistryEventKind,
)
from bot.store.tx import lock_for

Source = Literal["webhook", "poll"]


@dataclass(frozen=True)
class Change:
    """One thing that changed in the registry, as its source saw it."""

    dedupe_key: str
    source: Source
    model: str
    event: str  # RegistryEventKind
    at: datetime
    version: str | None = None  # None for an alias deletion (the holder is read from the state)
    alias: str | None = None
    tag_key: str | None = None
    tag_value: str | None = None
    actor: str | None = None
    # A new version's own tags: kept as its tag state, not recorded as events.
    tags: Mapping[str, str] = field(default_factory=dict)


def poll_key(*parts: object) -> str:
    """The dedupe key of a polled change: the same for every replica that sees it, from the same
    state, and different for the next change (the state it starts from differs)."""
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()
    return f"poll:{digest[:48]}"


def lock_model(session: Session, model: str) -> None:
    """Take this transaction's turn at ``model``'s registry state."""
    lock_for(session, f"model-registry:{model}")


def record(session: Session, change: Change) -> ModelRegistryEvent | None:
    """Store ``change`` and move the state; None when its dedupe key was recorded before."""
    lock_model(session, change.model)
    seen = session.exec(
        select(ModelRegistryEvent.id).where(ModelRegistryEvent.dedupe_key == change.dedupe_key)
    ).first()
    if seen is not None:
        return None
    version, from_version = change.version, None
    if change.alias is not None:
        from_version = _move_alias(session, change)
        if change.event == RegistryEventKind.ALIAS_DELETED:
            version = from_version
    tags = dict(change.tags)
    if change.event == RegistryEventKind.TAG_SET and change.tag_key is not None:
        tags[change.tag_key] = change.tag_value or ""
    for key, value in tags.items():
        set_tag(session, change.model, change.version or "", key, value, change.at)
    row = ModelRegistryEvent(
        dedupe_key=change.dedupe_key,
        source=change.source,
        model=change.model,
        version=version,
        event=change.event,
        alias=change.alias,
        from_version=from_version,
        tag_key=change.tag_key,
        tag_value=change.tag_value,
        actor=change.actor,
        at=change.at,
    )
    session.add(row)
    session.flush()
    return row


def _move_alias(session: Session, change: Change) -> str | None:
    """Point the alias where ``change`` says; the version it pointed at before (None: unknown,
    or not set). A webhook delivery older than the last one leaves the state as it is."""
    assert change.alias is not None
    held = session.get(ModelAlias, (change.model, change.alias))
    if held is None:
        held = ModelAlias(
            model=change.model, alias=change.alias, changed_at=change.at, source=change.source
        )
    elif change.source == "webhook" == held.source and change.at < held.changed_at:
        return None  # late: what it moved from is not what opsbot holds now
    before = held.version
    held.version = change.version if change.event == RegistryEventKind.ALIAS_SET else None
    held.changed_at, held.source = change.at, change.source
    session.add(held)
    return before


def set_tag(session: Session, model: str, version: str, key: str, value: str, at: datetime) -> None:
    tag = session.get(ModelVersionTag, (model, version, key))
    if tag is None:
        tag = ModelVersionTag(model=model, version=version, key=key, value=value, changed_at=at)
    tag.value, tag.changed_at = value, at
    session.add(tag)


def aliases_of(session: Session, model: str) -> dict[str, ModelAlias]:
    """``model``'s aliases as opsbot holds them, deleted ones included (``version`` None)."""
    rows = session.exec(select(ModelAlias).where(ModelAlias.model == model)).all()
    return {row.alias: row for row in rows}


def tags_of(session: Session, model: str) -> dict[tuple[str, str], tuple[str, datetime]]:
    """``model``'s version tags as last seen: (version, key) → (value, when it changed)."""
    rows = session.exec(select(ModelVersionTag).where(ModelVersionTag.model == model)).all()
    return {(row.version, row.key): (row.value, row.changed_at) for row in rows}


def versions_recorded(session: Session, model: str, since: datetime) -> set[str]:
    """The versions of ``model`` whose registration was recorded at or after ``since`` (the
    registered model's creation: a model deleted and created again numbers from 1 again)."""
    rows = session.exec(
        select(ModelRegistryEvent.version).where(
            ModelRegistryEvent.model == model,
            ModelRegistryEvent.event == RegistryEventKind.VERSION_CREATED,
            ModelRegistryEvent.at >= since,
        )
    ).all()
    return {v for v in rows if v is not None}
