"""The registry poller, for an MLflow that cannot send webhooks: every ``OPSBOT_MLFLOW_POLL_S``
it reads the whole registry and records what differs from what opsbot holds, as the same
changes the webhook records.

    a version not recorded yet             "fraud-model version 8 registered" (at its creation
                                           time, by its ``user_id`` when MLflow has one)
    an alias on another version, or new    "alias champion of fraud-model moved 7 → 8"
    an alias gone                          "alias champion of fraud-model deleted (was on 8)"
    a tag of a known version set or changed "tag stage=prod set on fraud-model 8"

Alias and tag changes are stamped with the time the poller saw them (MLflow keeps none for
them), so at most one interval late; no actor is named for them (MLflow does not say who).
The first pass against a registry takes the aliases it finds as they are: when they were set is
unknown, and reporting them as changes made now would make old aliases look like suspects.

Fleet- and restart-safe: the poller is one kind of background work (``registry``, one leader in
the fleet), every model is diffed and recorded in one transaction that holds that model's lock,
and each change's dedupe key is derived from the state it was diffed from
(``bot.registry.store.poll_key``): two pollers at once, or a poll after a restart, record each
change once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from urllib.parse import urlsplit, urlunsplit

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, col, delete

from bot.clients.mlflow_registry import ModelVersion, RegisteredModel, RegistryReader
from bot.errors import ExternalServiceError
from bot.registry.queries import describe
from bot.registry.store import (
    Change,
    aliases_of,
    lock_model,
    poll_key,
    record,
    tags_of,
    versions_recorded,
)
from bot.store.registry_models import ModelAlias, ModelRegistryPoll, ModelVersionTag
from bot.store.registry_models import RegistryEventKind as Kind
from bot.store.tx import run_tx
from bot.store.types import utcnow

log = logging.getLogger(__name__)

# What the store's columns hold; anything longer is skipped, never half-stored.
MAX_NAME, MAX_VERSION, MAX_TAG_KEY = 256, 32, 250
LOGGED_PER_PASS = 20  # a first pass over a large registry records every version: not one line each


def registry_key(tracking_uri: str) -> str:
    """The registry's name in ``model_registry_poll``: its URI without credentials."""
    parts = urlsplit(tracking_uri.strip())
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))[:512]


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _version_order(v: ModelVersion) -> int:
    return int(v.version) if v.version.isdigit() else 0


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)  # to record
    # First pass: aliases opsbot never saw, taken as they are (alias -> version, state only).
    taken: dict[str, str] = field(default_factory=dict)


def diff_model(
    session: Session,
    model: RegisteredModel,
    versions: Sequence[ModelVersion],
    now: datetime,
    *,
    first_pass: bool,
) -> Diff:
    """What differs between MLflow's ``model`` and opsbot's state of it."""
    name = model.name
    known = versions_recorded(session, name, since=_at(model.created_ms))
    tags = tags_of(session, name)
    diff = Diff()
    for v in sorted(versions, key=_version_order):
        if len(v.version) > MAX_VERSION:
            continue
        if v.version not in known:
            key = poll_key(name, v.version, "created", v.created_ms)
            kept = {k: val for k, val in v.tags.items() if len(k) <= MAX_TAG_KEY}
            diff.changes.append(
                Change(
                    key,
                    "poll",
                    name,
                    Kind.VERSION_CREATED,
                    _at(v.created_ms),
                    v.version,
                    actor=v.user_id,
                    tags=kept,
                )
            )
            continue
        for tag_key, value in sorted(v.tags.items()):
            before = tags.get((v.version, tag_key))
            if len(tag_key) > MAX_TAG_KEY or (before is not None and before[0] == value):
                continue
            key = poll_key(name, v.version, "tag", tag_key, before, value)
            diff.changes.append(
                Change(
                    key,
                    "poll",
                    name,
                    Kind.TAG_SET,
                    now,
                    v.version,
                    tag_key=tag_key,
                    tag_value=value,
                )
            )
    held = aliases_of(session, name)
    for alias, version in sorted(model.aliases.items()):
        state = held.get(alias)
        if len(alias) > MAX_NAME or (state is not None and state.version == version):
            continue
        if state is None and first_pass:
            diff.taken[alias] = version
            continue
        was = (state.version, state.changed_at) if state is not None else None
        key = poll_key(name, "alias", alias, was, version)
        diff.changes.append(Change(key, "poll", name, Kind.ALIAS_SET, now, version, alias=alias))
    for alias, state in sorted(held.items()):
        if state.version is not None and alias not in model.aliases:
            key = poll_key(name, "alias", alias, (state.version, state.changed_at), None)
            diff.changes.append(Change(key, "poll", name, Kind.ALIAS_DELETED, now, alias=alias))
    return diff


def _forget_removed_tags(session: Session, name: str, versions: Sequence[ModelVersion]) -> None:
    """Tags removed in MLflow leave opsbot's state too (a removal is not a recorded change)."""
    listed = {v.version for v in versions}
    present = {(v.version, k) for v in versions for k in v.tags}
    for version, key in tags_of(session, name):
        if version in listed and (version, key) not in present:
            session.exec(
                delete(ModelVersionTag).where(
                    col(ModelVersionTag.model) == name,
                    col(ModelVersionTag.version) == version,
                    col(ModelVersionTag.key) == key,
                )
            )


def sync_model(
    session: Session,
    model: RegisteredModel,
    versions: Sequence[ModelVersion],
    now: datetime,
    *,
    first_pass: bool,
) -> list[str]:
    """Record what changed in ``model`` since opsbot last looked, in words; one transaction."""
    lock_model(session, model.name)
    diff = diff_model(session, model, versions, now, first_pass=first_pass)
    for alias, version in diff.taken.items():
        session.add(
            ModelAlias(
                model=model.name, alias=alias, version=version, changed_at=now, source="poll"
            )
        )
    recorded = [row for row in (record(session, c) for c in diff.changes) if row is not None]
    _forget_removed_tags(session, model.name, versions)
    return [describe(row) for row in recorded]


def _first_pass(session: Session, registry: str) -> bool:
    return session.get(ModelRegistryPoll, registry) is None


def _pass_done(session: Session, registry: str, now: datetime) -> None:
    row = session.get(ModelRegistryPoll, registry)
    if row is None:
        row = ModelRegistryPoll(registry_uri=registry, first_pass_at=now, last_pass_at=now)
    row.last_pass_at = now
    session.add(row)


class RegistryPoller:
    """The ``registry`` loop: ``poll_once`` every ``interval_s``."""

    def __init__(
        self,
        engine: Engine,
        reader: RegistryReader,
        registry: str,
        *,
        interval_s: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.registry = registry_key(registry)
        self.interval_s = interval_s
        self.clock = clock

    def poll_once(self) -> list[str]:
        """Read the registry, record what changed; the changes recorded, in words."""
        models = [m for m in self.reader.registered_models() if len(m.name) <= MAX_NAME]
        by_model: dict[str, list[ModelVersion]] = {m.name: [] for m in models}
        for version in self.reader.model_versions():
            by_model.get(version.model, []).append(version)  # prompts and such: not listed
        now = self.clock()
        with Session(self.engine) as session:
            first_pass = _first_pass(session, self.registry)
        recorded: list[str] = []
        for model in models:
            work = partial(
                sync_model,
                model=model,
                versions=by_model[model.name],
                now=now,
                first_pass=first_pass,
            )
            recorded += run_tx(self.engine, work)
        run_tx(self.engine, partial(_pass_done, registry=self.registry, now=now))
        return recorded

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                recorded = await anyio.to_thread.run_sync(self.poll_once)
            except ExternalServiceError as exc:
                log.warning("mlflow registry: poll failed: %s", exc)
            except Exception:
                log.exception("mlflow registry: poll failed")
            else:
                for line in recorded[:LOGGED_PER_PASS]:
                    log.info("mlflow registry (polled): %s", line)
                if len(recorded) > LOGGED_PER_PASS:
                    more = len(recorded) - LOGGED_PER_PASS
                    log.info("mlflow registry (polled): and %d more change(s)", more)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
