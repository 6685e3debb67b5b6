"""opsbot's record of the Alertmanager silences it made for incidents (the ``silence`` table).

``SilenceBook`` is what the silence actions use, as the job actions use the ``JobLedger``:

    record(new)             a silence Alertmanager made: its row, a ``silence_created`` event on
                            the incident's timeline, a reply in its thread and a redraw of its
                            root, in one transaction
    record_expired(id, by)  the silence ended early: ``expired_at``/``expired_by``, a
                            ``silence_expired`` event, a reply and a redraw
    active(incident) ...    the reads: the incident's active silences, one by number or id

Each is recorded once, however often it is asked: the row is keyed by Alertmanager's id (unique),
so a retried apply finds its row and adds nothing; an expiry is a conditional UPDATE on
``expired_at IS NULL``, so only its first caller writes the event and the reply.

"Active" is as opsbot knows it: not expired through opsbot and not past its end. A silence
expired in Alertmanager's own UI stays active here until it ends or ``expire_silence`` runs on
it (which finds it expired and records that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.incidents import timeline
from bot.outbox.queue import INTERACTIVE, enqueue_reply, enqueue_root_update
from bot.render.silences import expired_reply, matchers_text, silenced_reply
from bot.store.engine import session_scope
from bot.store.models import Incident, table
from bot.store.oncall_models import Silence
from bot.store.types import utcnow

CREATED = "silence_created"
EXPIRED = "silence_expired"


@dataclass(frozen=True)
class NewSilence:
    incident_id: int
    silence_id: str  # Alertmanager's
    matchers: dict[str, str]  # label → value, equality matchers
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


def active_silence(session: Session, incident_id: int, now: datetime) -> Silence | None:
    """The incident's active silence that lasts longest (the root shows it), or None."""
    return session.exec(
        _active(now).where(Silence.incident_id == incident_id).order_by(col(Silence.ends_at).desc())
    ).first()


def _active(now: datetime) -> SelectOfScalar[Silence]:
    return select(Silence).where(col(Silence.expired_at).is_(None), col(Silence.ends_at) > now)


def thread_link(incident: Incident) -> str | None:
    """A link to the incident's Slack thread once its root is posted (Slack's archive URL, which
    opens the message in the workspace of whoever follows it), else its PagerDuty page."""
    if incident.slack_channel and incident.slack_ts:
        message = "p" + incident.slack_ts.replace(".", "")
        return f"https://slack.com/archives/{incident.slack_channel}/{message}"
    return incident.pagerduty_url


class SilenceBook:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # -- reads -----------------------------------------------------------------------------

    def get(self, ref: str | int) -> Silence | None:
        """A silence by its number (``3``) or Alertmanager's id."""
        text = str(ref).strip().lstrip("#")
        with Session(self.engine, expire_on_commit=False) as session:
            if text.isdigit():
                return session.get(Silence, int(text))
            return session.exec(select(Silence).where(Silence.silence_id == text)).first()

    def active(self, incident_id: int | None = None) -> list[Silence]:
        """Active silences, of one incident or of all, soonest to end first."""
        query = _active(self.clock()).order_by(col(Silence.ends_at), col(Silence.id))
        if incident_id is not None:
            query = query.where(Silence.incident_id == incident_id)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(query).all())

    def made_for(self, incident_id: int) -> set[str]:
        """Alertmanager ids of every silence made for the incident (expired ones too)."""
        with Session(self.engine) as session:
            ids = session.exec(
                select(Silence.silence_id).where(Silence.incident_id == incident_id)
            ).all()
        return set(ids)

    def incident(self, incident_id: int) -> Incident | None:
        """The incident a silence is for, as it is now (to check it exists, to link to it)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Incident, incident_id)

    # -- writes ----------------------------------------------------------------------------

    def record(self, new: NewSilence) -> Silence:
        """The silence's row, recorded with its timeline event, thread reply and root redraw;
        the existing row when this Alertmanager id was recorded before (a retried apply)."""
        found = self.get(new.silence_id)
        if found is not None:
            return found
        now = self.clock()
        try:
            with session_scope(self.engine) as session:
                incident = session.get(Incident, new.incident_id)
                if incident is None:
                    raise ValueError(f"no incident #{new.incident_id}")
                row = Silence(
                    incident_id=new.incident_id,
                    silence_id=new.silence_id,
                    matchers=[
                        {"name": k, "value": v, "isRegex": False, "isEqual": True}
                        for k, v in new.matchers.items()
                    ],
                    starts_at=new.starts_at,
                    ends_at=new.ends_at,
                    created_by=new.created_by,
                    comment=new.comment,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                timeline.add(
                    session,
                    new.incident_id,
                    CREATED,
                    f"Alerts matching {matchers_text(row)} silenced until "
                    f"{new.ends_at:%Y-%m-%d %H:%M} UTC (silence {row.id})",
                    at=now,
                    actor=new.created_by,
                    data={
                        "silence": row.id,
                        "silence_id": new.silence_id,
                        "matchers": new.matchers,
                        "ends_at": new.ends_at.isoformat(),
                    },
                )
                text, blocks = silenced_reply(row, now)
                enqueue_reply(session, incident, text, blocks, priority=INTERACTIVE)
                enqueue_root_update(session, incident, priority=INTERACTIVE)
                session.expunge(row)
            return row
        except IntegrityError:  # recorded a moment ago by another caller
            again = self.get(new.silence_id)
            assert again is not None
            return again

    def record_expired(self, silence_id: str, by: str) -> Silence | None:
        """Mark opsbot's silence ``silence_id`` expired by ``by``, once; None when opsbot did not
        make it. The caller that wins writes the event, the reply and the redraw."""
        now = self.clock()
        with session_scope(self.engine) as session:
            row = session.exec(select(Silence).where(Silence.silence_id == silence_id)).first()
            if row is None:
                return None
            won = session.connection().execute(
                update(table(Silence))
                .where(col(Silence.id) == row.id, col(Silence.expired_at).is_(None))
                .values(expired_at=now, expired_by=by)
            )
            session.refresh(row)
            if int(won.rowcount) == 1:
                incident = session.get(Incident, row.incident_id)
                assert incident is not None
                timeline.add(
                    session,
                    row.incident_id,
                    EXPIRED,
                    f"Silence {row.id} ({matchers_text(row)}) expired",
                    at=now,
                    actor=by,
                    data={"silence": row.id, "silence_id": silence_id},
                )
                text, blocks = expired_reply(row, now)
                enqueue_reply(session, incident, text, blocks, priority=INTERACTIVE)
                enqueue_root_update(session, incident, priority=INTERACTIVE)
            session.expunge(row)
            return row
