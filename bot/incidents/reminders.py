"""Reminders that a status update is due: an open incident whose severity the catalog lists under
``status_updates`` (``sev1: 15m``) and that has had no update (``/ops update``) for that long
gets one reminder in its thread, mentioning its lead (or naming the on-call person). Never more
than one per period: the next comes only after another full period without an update. A
resolved incident gets none.

The check runs on the replica leading ``reminders`` (``bot.fleet``); the reminder is written
with a conditional UPDATE on the ``reminded_at`` it read, in the same transaction as the thread
line, so two checks racing over a hand-over remind once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import anyio
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.incidents import timeline
from bot.outbox.queue import enqueue_reply
from bot.render.blocks import note_reply
from bot.store.engine import session_scope
from bot.store.models import Incident, IncidentStatus, table
from bot.store.types import utcnow
from bot.text.mrkdwn import escape

log = logging.getLogger(__name__)

CHECK_EVERY_S = 30.0
BATCH = 200


def reminder_text(incident: Incident, quiet: timedelta, every: timedelta) -> str:
    minutes = int(quiet.total_seconds() // 60)
    who = ""
    if incident.lead:
        who = f"<@{incident.lead}>: "
    elif incident.oncall:
        who = f"{escape(incident.oncall)} (on call): "
    return (
        f":alarm_clock: {who}no status update on #{incident.id} for {minutes} min "
        f"({escape(incident.severity or '')} wants one every {int(every.total_seconds() // 60)} "
        "min). Post one with `/ops update <what is happening, what is next>`."
    )


def remind_due(
    engine: Engine, every: Mapping[str, timedelta], now: datetime | None = None
) -> list[int]:
    """Remind each incident that is due; the ids reminded."""
    if not every:
        return []
    now = now or utcnow()
    with Session(engine) as session:
        candidates = session.exec(
            select(Incident)
            .where(
                col(Incident.status).in_(IncidentStatus.OPEN),
                col(Incident.severity).in_(list(every)),
            )
            .order_by(col(Incident.id))
            .limit(BATCH)
        ).all()
    reminded = []
    for incident in candidates:
        assert incident.id is not None
        assert incident.severity is not None
        period = every[incident.severity]
        quiet = now - (incident.last_update_at or incident.opened_at)
        if quiet < period:
            continue
        if incident.reminded_at is not None and now - incident.reminded_at < period:
            continue
        if _remind(engine, incident, now, quiet, period):
            reminded.append(incident.id)
    return reminded


def _remind(
    engine: Engine, seen: Incident, now: datetime, quiet: timedelta, period: timedelta
) -> bool:
    assert seen.id is not None
    incidents = table(Incident)
    with session_scope(engine) as session:
        won = session.connection().execute(
            update(incidents)
            .where(
                incidents.c.id == seen.id,
                incidents.c.status.in_(IncidentStatus.OPEN),
                incidents.c.reminded_at.is_(None)
                if seen.reminded_at is None
                else incidents.c.reminded_at == seen.reminded_at,
                incidents.c.last_update_at.is_(None)
                if seen.last_update_at is None
                else incidents.c.last_update_at == seen.last_update_at,
            )
            .values(reminded_at=now)
        )
        if int(won.rowcount) != 1:
            return False  # updated, resolved or reminded meanwhile
        incident = session.get(Incident, seen.id)
        assert incident is not None
        text = reminder_text(incident, quiet, period)
        enqueue_reply(session, incident, *note_reply(text))
        timeline.add(session, seen.id, "update_reminder", text, at=now)
    return True


class Reminders:
    """The ``reminders`` loop: a check every ``interval_s``, waking the outbox when it wrote."""

    def __init__(
        self,
        engine: Engine,
        every: Mapping[str, timedelta],
        *,
        wake: Callable[[], None] | None = None,
        interval_s: float = CHECK_EVERY_S,
    ) -> None:
        self.engine = engine
        self.every = dict(every)
        self.wake = wake
        self.interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reminded = await anyio.to_thread.run_sync(remind_due, self.engine, self.every)
            except Exception:
                log.exception("could not check for status updates due")
                reminded = []
            if reminded:
                log.info("reminded %d incident(s) that a status update is due", len(reminded))
                if self.wake is not None:
                    self.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
