"""Alert storms: when more incidents wait for their root post in a channel than Slack's pace
lets through soon, one message names them all at once, and their threads open after it.

    each pass of the sender (only on the fleet's outbox leader), per channel:
      no open storm, waiting roots > posts the channel can take within ``horizon_s``
          ──> open a storm: list the waiting incidents, queue the storm message (``storm_post``)
      an open storm
          ──> list incidents whose roots started waiting since; when what the message shows
              (incidents listed, threads open) has changed, queue one edit (``storm_update``),
              due no sooner than ``edit_interval_s`` after the last
          ──> nothing waits and every listed thread is open (or refused): close it; the last
              edit says so

The message is an outbox row like any other: posted with the channel's token (before the roots,
after what a person waits for), marked ``sending`` before the call and settled by its metadata
tag after a crash; its edits are ``chat.update`` calls that fold into one. What it lists and
shows lives in ``storm`` / ``storm_entry`` (``bot.store.storm_models``): a new leader edits
the open storm's message; the database allows one open storm per channel and lists an
incident once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from bot.outbox.queue import insert_rows, outbox_row
from bot.store.engine import session_scope
from bot.store.models import (
    Incident,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    table,
)
from bot.store.storm_models import Storm, StormEntry, StormStatus
from bot.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StormPolicy:
    """When a storm message is posted, and how often it is edited."""

    # Waiting roots beyond what the channel can take within this many seconds open a storm.
    horizon_s: float = 1.0
    # Slack limits chat.update per workspace (Tier 3, ~50/min): one edit a second at most.
    edit_interval_s: float = 1.0


class StormWatch:
    """The sender's storm step (``plan``), run at the start of each pass."""

    def __init__(self, engine: Engine, policy: StormPolicy) -> None:
        self.engine = engine
        self.policy = policy

    def plan(self, can_post: Callable[[str], int]) -> float | None:
        """Open, follow and close the channels' storms; ``can_post(channel)``: root posts the
        channel can take within ``horizon_s``. Returns the seconds until a queued edit is due
        (None: none waits), for the sender's sleep.

        A read first: most passes change nothing (no storm, or one whose message shows it all
        already), and on SQLite a write transaction would take turns with intake's writer on
        every pass."""
        with Session(self.engine) as session:
            if not self._has_work(session, can_post):
                return edit_due_in(session, utcnow())
        with session_scope(self.engine) as session:
            now = utcnow()
            waiting = waiting_roots(session)
            storms = {
                s.channel: s
                for s in session.exec(select(Storm).where(Storm.status == StormStatus.OPEN))
            }
            if not storms and not any(len(ids) > 1 for ids in waiting.values()):
                return None  # the usual case: two small queries, nothing to do
            for channel in sorted(set(waiting) | set(storms)):
                ids = waiting.get(channel, [])
                storm = storms.get(channel)
                if storm is not None:
                    self._follow(session, storm, ids, now)
                # A storm of one would take the very token its root needs.
                elif len(ids) > max(1, can_post(channel)):
                    self._open(session, channel, ids, now)
            return edit_due_in(session, now)

    def _has_work(self, session: Session, can_post: Callable[[str], int]) -> bool:
        """Whether ``plan`` would write: a storm to open, incidents to list, an edit to queue,
        a storm to close (what ``_open`` and ``_follow`` decide, read only)."""
        waiting = waiting_roots(session)
        storms = {
            s.channel: s
            for s in session.exec(select(Storm).where(Storm.status == StormStatus.OPEN))
        }
        for channel in set(waiting) | set(storms):
            ids = waiting.get(channel, [])
            storm = storms.get(channel)
            if storm is None:
                if len(ids) > max(1, can_post(channel)) and unlisted(session, ids):
                    return True
                continue
            assert storm.id is not None
            if unlisted(session, ids):
                return True
            listed, settled = tally(session, storm.id)
            if not ids and settled == listed:
                return True  # over: closed, and its last edit queued
            changed = (listed, settled) != (storm.shown, storm.shown_settled)
            if changed and not edit_waiting(session, storm.id):
                return True
        return False

    def _open(self, session: Session, channel: str, ids: list[int], now: datetime) -> None:
        ids = unlisted(session, ids)
        if not ids:
            return
        storm = Storm(channel=channel, opened_at=now)
        session.add(storm)
        session.flush()
        assert storm.id is not None
        add_entries(session, storm.id, ids, now)
        queue(session, storm, OutboxKind.STORM_POST, now)
        log.info("storm in %s: naming %s waiting incidents in one message", channel, len(ids))

    def _follow(self, session: Session, storm: Storm, ids: list[int], now: datetime) -> None:
        assert storm.id is not None
        if new := unlisted(session, ids):
            add_entries(session, storm.id, new, now)
        listed, settled = tally(session, storm.id)
        if not ids and settled == listed:
            storm.status = StormStatus.DONE
            storm.closed_at = now
            session.add(storm)
            log.info("storm in %s is over: %s threads open", storm.channel, listed)
        elif (listed, settled) == (storm.shown, storm.shown_settled):
            return  # the message shows it all already
        if not edit_waiting(session, storm.id):
            due = now
            if storm.edited_at is not None:
                due = max(now, storm.edited_at + timedelta(seconds=self.policy.edit_interval_s))
            queue(session, storm, OutboxKind.STORM_UPDATE, due)


# -- queries --------------------------------------------------------------------------------


def waiting_roots(session: Session) -> dict[str, list[int]]:
    """Incidents whose root post waits, per channel, in queue order."""
    outbox = table(OutboxMessage)
    rows = session.execute(
        core_select(outbox.c.channel, outbox.c.incident_id)
        .where(
            outbox.c.status == OutboxStatus.PENDING,
            outbox.c.kind == OutboxKind.ROOT_POST,
            outbox.c.incident_id.is_not(None),
        )
        .order_by(outbox.c.id)
    ).all()
    found: dict[str, list[int]] = defaultdict(list)
    for channel, incident_id in rows:
        found[channel].append(incident_id)
    return found


def unlisted(session: Session, ids: list[int]) -> list[int]:
    """``ids`` less the incidents some storm message lists already (each is listed once)."""
    if not ids:
        return []
    listed = set(
        session.exec(
            select(StormEntry.incident_id).where(col(StormEntry.incident_id).in_(ids))
        ).all()
    )
    return [i for i in dict.fromkeys(ids) if i not in listed]


def tally(session: Session, storm_id: int) -> tuple[int, int]:
    """Incidents the storm lists, and of them those settled: thread open, or root refused."""
    entry, incident, outbox = table(StormEntry), table(Incident), table(OutboxMessage)
    listed, opened = session.execute(
        core_select(func.count(), func.count(incident.c.slack_ts))
        .select_from(entry.join(incident, incident.c.id == entry.c.incident_id))
        .where(entry.c.storm_id == storm_id)
    ).one()
    refused = session.execute(
        core_select(func.count(func.distinct(outbox.c.incident_id)))
        .select_from(entry.join(outbox, outbox.c.incident_id == entry.c.incident_id))
        .where(
            entry.c.storm_id == storm_id,
            outbox.c.kind == OutboxKind.ROOT_POST,
            outbox.c.status == OutboxStatus.FAILED,
        )
    ).scalar_one()
    return int(listed), int(opened) + int(refused)


def edit_waiting(session: Session, storm_id: int) -> bool:
    """A queued edit (or the post) will show the current state: it renders when it goes."""
    outbox = table(OutboxMessage)
    found = session.execute(
        core_select(outbox.c.id)
        .where(outbox.c.storm_id == storm_id, outbox.c.status == OutboxStatus.PENDING)
        .limit(1)
    ).first()
    return found is not None


def edit_due_in(session: Session, now: datetime) -> float | None:
    outbox = table(OutboxMessage)
    due: datetime | None = session.execute(
        core_select(func.min(outbox.c.next_attempt_at)).where(
            outbox.c.kind == OutboxKind.STORM_UPDATE, outbox.c.status == OutboxStatus.PENDING
        )
    ).scalar_one()
    if due is None:
        return None
    if due.tzinfo is None:  # should an aggregate come back as stored (naive UTC)
        due = due.replace(tzinfo=now.tzinfo)
    return max(0.0, (due - now).total_seconds())


# -- writes ---------------------------------------------------------------------------------


def add_entries(session: Session, storm_id: int, ids: list[int], now: datetime) -> None:
    session.execute(
        insert(table(StormEntry)),
        [{"storm_id": storm_id, "incident_id": i, "listed_at": now} for i in ids],
    )


def queue(session: Session, storm: Storm, kind: str, due: datetime) -> None:
    """The storm message's post or an edit, as an outbox row (rendered when it goes)."""
    row = outbox_row(None, storm.channel, kind)
    insert_rows(session, [{**row, "next_attempt_at": due, "storm_id": storm.id}])
