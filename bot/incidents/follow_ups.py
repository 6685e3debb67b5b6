"""Follow-ups: the ``follow-up:`` / ``todo:`` / ``action item:`` notes, tracked as items with an
owner and a state (the ``follow_up`` table) until someone marks them done.

    a note lands (``/ops note``, the timeline emoji) ──capture──> item #N, open
    complete_follow_up (the action) ──FollowUpBook.complete──> done: done_at / done_by, a
        ``follow_up_done`` event on its incident, the summary's Done buttons redrawn
        (``redraw``: ``bot.summary.follow_up_controls``, given by whoever builds the book, as
        the summary imports this module)

``FOLLOW_UP`` is the one definition of a follow-up note: the summary reads notes with it too.
The owner is a Slack mention leading the text (``todo: <@U123> add a drift alert``), else nobody.

Once: an item is made in the note's own transaction, at most one per timeline event
(``event_id`` is unique, and ``capture`` looks for it first); it is marked done by one
conditional UPDATE on ``state = 'open'``, so two clicks, a retry or two replicas write one done
event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, func, or_, update
from sqlmodel import Session, col, select

from bot.incidents import timeline
from bot.store.models import Incident, TimelineEvent, table
from bot.store.oncall_models import FollowUp, FollowUpState
from bot.store.tx import run_tx
from bot.store.types import utcnow

NOTE_KIND = "note"
DONE_KIND = "follow_up_done"
FOLLOW_UP = re.compile(
    r"^\s*(?:follow[-\s]?up|todo|action\s+item)\s*:\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL
)
USER = r"[UW][A-Z0-9]{2,20}"  # a Slack user ID
# A mention leading the text: <@U123>, <@U123|ada> (Slack's forms), or @U123 typed at the console.
_OWNER = re.compile(rf"^(?:<@(?P<slack>{USER})(?:\|[^>]*)?>|@(?P<typed>{USER})\b)")
LIST_LIMIT = 50
DONE_TEXT_LIMIT = 300

Which = Literal["open", "mine", "all"]
# Redraw what shows the incident's items (its summary), in the transaction that changed one.
Redraw = Callable[[Session, Incident, Sequence[FollowUp]], object]
WHICH: tuple[Which, ...] = ("open", "mine", "all")


def follow_up_text(note: str) -> str | None:
    """What a follow-up note asks for (the text after its prefix), or None for another note."""
    match = FOLLOW_UP.match(note)
    rest = match.group("rest").strip() if match else ""
    return rest or None


def owner_of(text: str) -> tuple[str | None, str]:
    """``(owner, text without the leading mention)``; no mention: ``(None, text)``. A text that
    is only a mention keeps it."""
    match = _OWNER.match(text)
    if match is None:
        return None, text
    rest = text[match.end() :].lstrip(" :,-—").strip()
    return match.group("slack") or match.group("typed"), rest or text


def capture(session: Session, event: TimelineEvent) -> FollowUp | None:
    """The item for a note event that is a follow-up, made once (in the caller's transaction);
    None for any other event."""
    if event.kind != NOTE_KIND:
        return None
    asked = follow_up_text(event.text)
    if asked is None:
        return None
    session.flush()  # the event's id
    found = session.exec(select(FollowUp).where(FollowUp.event_id == event.id)).first()
    if found is not None:
        return found
    owner, text = owner_of(asked)
    item = FollowUp(
        incident_id=event.incident_id,
        event_id=event.id,
        text=text,
        owner=owner,
        created_by=event.actor,
        created_at=event.at,
    )
    session.add(item)
    session.flush()
    return item


# -- reads -----------------------------------------------------------------------------------


def of_incident(session: Session, incident_id: int) -> Sequence[FollowUp]:
    """The incident's items, oldest first (the summary's order)."""
    return session.exec(
        select(FollowUp).where(FollowUp.incident_id == incident_id).order_by(col(FollowUp.id))
    ).all()


def listing(
    session: Session,
    which: Which,
    *,
    user: str,
    incident_id: int | None = None,
    limit: int = LIST_LIMIT,
) -> Sequence[FollowUp]:
    """Items newest first: ``open`` ones, ``mine`` (open, owned by ``user``) or ``all``; of one
    incident or everywhere; at most ``limit``."""
    query = select(FollowUp).order_by(col(FollowUp.created_at).desc(), col(FollowUp.id).desc())
    if which != "all":
        query = query.where(FollowUp.state == FollowUpState.OPEN)
    if which == "mine":
        query = query.where(FollowUp.owner == user)
    if incident_id is not None:
        query = query.where(FollowUp.incident_id == incident_id)
    return session.exec(query.limit(limit)).all()


def open_at(session: Session, when: datetime, *, limit: int) -> tuple[int, Sequence[FollowUp]]:
    """Items made before ``when`` and not done by then: how many, and the ``limit`` oldest."""
    still_open = (
        col(FollowUp.created_at) < when,
        or_(col(FollowUp.done_at).is_(None), col(FollowUp.done_at) >= when),
    )
    total = session.exec(select(func.count()).select_from(FollowUp).where(*still_open)).one()
    rows = session.exec(
        select(FollowUp)
        .where(*still_open)
        .order_by(col(FollowUp.created_at), col(FollowUp.id))
        .limit(limit)
    ).all()
    return int(total), rows


# -- the book the action uses ----------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """What a plan shows of an item."""

    id: int
    incident_id: int
    text: str
    owner: str | None
    state: str
    done_by: str | None
    done_at: datetime | None

    @property
    def done(self) -> bool:
        return self.state == FollowUpState.DONE


class FollowUpBook:
    """opsbot's record of follow-ups, as the ``complete_follow_up`` action changes it."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        *,
        redraw: Redraw | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.redraw = redraw

    def get(self, item_id: int) -> Item | None:
        with Session(self.engine) as session:
            row = session.get(FollowUp, item_id)
            return _item(row) if row is not None else None

    def complete(self, item_id: int, *, by: str) -> bool:
        """Mark it done; True for the one caller that did (the others find it done). The done
        event and the summary's redraw are in the same transaction."""

        def work(session: Session) -> bool:
            now = self.clock()
            won = session.connection().execute(
                update(table(FollowUp))
                .where(col(FollowUp.id) == item_id, col(FollowUp.state) == FollowUpState.OPEN)
                .values(state=FollowUpState.DONE, done_at=now, done_by=by)
            )
            if int(won.rowcount) != 1:
                return False
            row = session.get(FollowUp, item_id)
            assert row is not None
            text = (
                row.text if len(row.text) <= DONE_TEXT_LIMIT else row.text[:DONE_TEXT_LIMIT] + "…"
            )
            timeline.add(
                session,
                row.incident_id,
                DONE_KIND,
                f"Follow-up #{item_id} done by {_person(by)}: {text}",
                at=now,
                actor=by,
                data={"follow_up_id": item_id},
            )
            incident = session.get(Incident, row.incident_id)
            if incident is not None and self.redraw is not None:
                self.redraw(session, incident, of_incident(session, row.incident_id))
            return True

        return run_tx(self.engine, work)


def _item(row: FollowUp) -> Item:
    assert row.id is not None
    return Item(
        id=row.id,
        incident_id=row.incident_id,
        text=row.text,
        owner=row.owner,
        state=row.state,
        done_by=row.done_by,
        done_at=row.done_at,
    )


def _person(user: str) -> str:
    """A mention of a Slack user; anyone else (the console's actor) by name."""
    return f"<@{user}>" if re.fullmatch(USER, user) else user
