"""Which datasets opsbot watches for freshness, how it names each one's staleness, and since
when it has watched each.

    watched(catalog)   the catalog's datasets with a ``freshness`` objective (they have an owner)
    group_key(key)     ``freshness:<namespace>/<name>``: the incident group of one dataset
    fingerprint(key)   its alert's fingerprint, stable and within ``alert.fingerprint``'s 64
    watched_since      when opsbot began watching it (``dataset_watch``), recorded the first time
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.catalog.model import Catalog, Dataset
from bot.store.freshness_models import DatasetWatch

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Watched:
    """A catalog dataset with a freshness objective, under its short name in the catalog."""

    name: str
    dataset: Dataset
    objective: timedelta

    @property
    def key(self) -> Key:
        return (self.dataset.namespace, self.dataset.name)

    @property
    def owner(self) -> str:
        assert self.dataset.owner is not None  # the catalog requires it with a freshness
        return self.dataset.owner


def watched(catalog: Catalog) -> list[Watched]:
    """The catalog's datasets that have a freshness objective, by short name."""
    found = []
    for name, dataset in sorted(catalog.datasets.items()):
        objective = dataset.objective()
        if objective is not None:
            found.append(Watched(name, dataset, objective))
    return found


def group_key(key: Key) -> str:
    return f"freshness:{key[0]}/{key[1]}"


def fingerprint(key: Key) -> str:
    """Stable per dataset and short enough for ``alert.fingerprint`` (64), whatever the names."""
    digest = hashlib.sha256(f"{key[0]}\n{key[1]}".encode()).hexdigest()
    return f"freshness:{digest[:40]}"


def watched_since(session: Session, key: Key, now: datetime) -> datetime:
    """When opsbot began watching ``key``; now, recorded, when it is the first time. A race with
    another writer ends in an ``IntegrityError``: ``run_tx`` runs the check again."""
    row = session.exec(
        select(DatasetWatch).where(DatasetWatch.namespace == key[0], DatasetWatch.name == key[1])
    ).first()
    if row is not None:
        return row.first_watched_at
    session.add(DatasetWatch(namespace=key[0], name=key[1], first_watched_at=now))
    session.flush()
    return now
