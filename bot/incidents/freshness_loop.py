"""The ``freshness`` loop: every ``OPSBOT_FRESHNESS_CHECK_S`` it checks each dataset the catalog
gives a freshness objective (``bot/incidents/freshness_flow.py``).

    read (no write): which datasets are watched yet, each one's last success, which fire
        │  a dataset needs a write only when it is new to opsbot, went stale, or is fresh again
        v
    one transaction per such dataset: ``check`` again under its lock, open or resolve

So a quiet pass writes nothing (on SQLite it does not take turns with intake's writer). The loop
is one kind of the fleet's background work: one replica runs it, another takes over when it
dies; two at once (a hand-over) still open one incident per staleness, by the dataset's lock and
the database's unique keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import anyio
from sqlalchemy import Engine, tuple_
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.incidents.freshness_flow import check
from bot.incidents.freshness_watch import Watched, fingerprint, watched
from bot.lineage.freshness import last_successes
from bot.metrics import Metrics
from bot.store.freshness_models import DatasetWatch
from bot.store.models import Alert
from bot.store.tx import run_tx
from bot.store.types import utcnow

log = logging.getLogger(__name__)

SOURCE = "freshness"


@dataclass
class Pass:
    checked: int = 0  # datasets looked at
    written: int = 0  # datasets that needed a transaction
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


class FreshnessLoop:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        channel: str,
        *,
        interval_s: float,
        clock: Callable[[], datetime] = utcnow,
        wake: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.channel = channel
        self.interval_s = interval_s
        self.clock = clock
        self.wake = wake
        self.metrics = metrics
        self.targets = watched(catalog)

    def _due(self, now: datetime) -> list[Watched]:
        """The datasets whose state may change now (read only)."""
        keys = [w.key for w in self.targets]
        with Session(self.engine) as session:
            since: dict[tuple[str, str], datetime] = {}
            for ns, name, at in session.exec(
                select(
                    DatasetWatch.namespace, DatasetWatch.name, DatasetWatch.first_watched_at
                ).where(tuple_(col(DatasetWatch.namespace), col(DatasetWatch.name)).in_(keys))
            ).all():
                since[(ns, name)] = at
            successes = last_successes(session, keys)
            firing = set(
                session.exec(
                    select(Alert.fingerprint).where(
                        col(Alert.fingerprint).in_([fingerprint(k) for k in keys]),
                        Alert.status == "firing",
                    )
                ).all()
            )
        due = []
        for w in self.targets:
            if w.key not in since:
                due.append(w)
                continue
            stale = now > successes.get(w.key, since[w.key]) + w.objective
            if stale != (fingerprint(w.key) in firing):
                due.append(w)
        return due

    def check_once(self, now: datetime | None = None) -> Pass:
        """One pass over the watched datasets, as of ``now`` (default: the clock)."""
        now = now or self.clock()
        result = Pass(checked=len(self.targets))
        if not self.targets:
            return result
        for w in self._due(now):
            done = run_tx(
                self.engine,
                partial(check, w=w, now=now, channel=self.channel, catalog=self.catalog),
            )
            result.written += 1
            if done.opened is not None:
                result.opened.append(done.opened)
            result.resolved += done.resolved or []
        if self.metrics is not None:
            if result.opened:
                self.metrics.incidents_opened.labels(SOURCE).inc(len(result.opened))
            if result.resolved:
                self.metrics.incidents_resolved.labels(SOURCE).inc(len(result.resolved))
        if (result.opened or result.resolved) and self.wake is not None:
            self.wake()
        return result

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await anyio.to_thread.run_sync(self.check_once)
            except Exception:
                log.exception("freshness: check failed")
            else:
                if done.opened or done.resolved:
                    log.info(
                        "freshness: %d dataset(s) checked, incidents opened %s, resolved %s",
                        done.checked,
                        done.opened,
                        done.resolved,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
