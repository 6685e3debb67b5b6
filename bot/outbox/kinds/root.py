"""An incident's root message: posted once, then redrawn in place. It carries no content: it is
rendered from the incident (and its latest playbook run) at send time, and all redraws waiting
for the same root collapse into one ``chat.update``."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.incidents.queries import alert_counts
from bot.incidents.silences import active_silence
from bot.outbox.kinds.base import Call, Look, MessageKind, Posted, incident_of
from bot.outbox.rows import Prepared, merge_waiting, take
from bot.render.blocks import root_message
from bot.render.silences import silence_line
from bot.store.models import Incident, OutboxKind, OutboxMessage, OutboxStatus
from bot.store.run_models import PlaybookRun
from bot.store.types import utcnow

RUN_WORDS = {"waiting": "waiting for approval", "running": "running"}


class RootPost(MessageKind):
    """The message that opens the incident's thread."""

    kind = OutboxKind.ROOT_POST

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        return _prepare_root(session, row, incident_of(session, row), look)

    def note_posted(self, session: Session, posted: Posted, ts: str) -> None:
        """The incident's thread now exists: replies and edits can go to it."""
        assert posted.incident_id is not None
        incident = session.get(Incident, posted.incident_id)
        assert incident is not None
        incident.slack_ts = ts
        incident.slack_channel = posted.channel
        session.add(incident)

    def refused_for_good(self, session: Session, p: Prepared, detail: str) -> None:
        # Without a root there is no thread: its queued replies cannot go anywhere.
        for other in session.exec(
            select(OutboxMessage).where(
                OutboxMessage.incident_id == p.incident_id,
                OutboxMessage.status == OutboxStatus.PENDING,
            )
        ).all():
            other.status = OutboxStatus.FAILED
            other.last_error = f"root message failed: {detail}"
            session.add(other)


class RootUpdate(MessageKind):
    """A redraw of the root, once it is posted."""

    kind = OutboxKind.ROOT_UPDATE
    call = Call.UPDATE

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        incident = incident_of(session, row)
        if not incident.slack_ts:
            return None  # the root is not posted yet; its post will show the current state
        return _prepare_root(session, row, incident, look)


def _prepare_root(session: Session, row: OutboxMessage, incident: Incident, look: Look) -> Prepared:
    assert incident.id is not None
    assert row.id is not None
    # Every redraw request waiting for this root is answered by this render.
    merge_waiting(
        session,
        row.id,
        col(OutboxMessage.incident_id) == incident.id,
        col(OutboxMessage.kind) == OutboxKind.ROOT_UPDATE,
    )
    session.refresh(incident)  # render what was committed before the requests were taken
    take(session, row)
    firing, total = alert_counts(session, incident.id)
    text, blocks = root_message(
        incident,
        firing,
        total,
        remediation_line(session, incident.id),
        severities=look.severities,
        paged=look.paged,
        silence=_silence_line(session, incident.id),
    )
    return Prepared(
        kind=row.kind,
        channel=row.channel,
        incident_id=incident.id,
        row_ids=[row.id],
        text=text,
        blocks=blocks,
        root_ts=incident.slack_ts,
    )


def _silence_line(session: Session, incident_id: int) -> str | None:
    """The incident's active silence, in words for the root (as of this render)."""
    now = utcnow()
    silence = active_silence(session, incident_id, now)
    return silence_line(silence, now) if silence is not None else None


def remediation_line(session: Session, incident_id: int) -> str | None:
    """The latest playbook run of the incident, in words for the root."""
    run = session.exec(
        select(PlaybookRun)
        .where(PlaybookRun.incident_id == incident_id)
        .order_by(col(PlaybookRun.id).desc())
    ).first()
    if run is None:
        return None
    status = RUN_WORDS.get(run.status, run.status)
    step = f" ({run.current_step})" if run.current_step and run.status != "succeeded" else ""
    return f"{run.playbook} #{run.id}: {status}{step}, started by <@{run.requested_by}>"
