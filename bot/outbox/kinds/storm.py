"""An alert storm's one message (``bot.outbox.storm``): posted once, before the roots it names,
then edited in place. Like the root it carries no content: it is rendered from its ``storm``
row and the incidents it lists when it goes, and the edits waiting for it fold into one call."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.outbox.kinds.base import Call, Look, MessageKind, Posted
from bot.outbox.rows import Prepared, fail_waiting, merge_waiting, take
from bot.render.storm import StormLine, storm_message, thread_url
from bot.store.models import Incident, OutboxKind, OutboxMessage, OutboxStatus
from bot.store.storm_models import Storm, StormEntry, StormStatus
from bot.store.types import utcnow


class StormPost(MessageKind):
    """The message that names the storm's incidents."""

    kind = OutboxKind.STORM_POST

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        return _prepare_storm(session, row, look)

    def note_posted(self, session: Session, posted: Posted, ts: str) -> None:
        """Its edits can go now, to this ``ts``: the one message of the storm, whoever leads."""
        storm = session.get(Storm, posted.storm_id)
        assert storm is not None
        storm.ts = ts
        storm.edited_at = utcnow()
        session.add(storm)

    def refused_for_good(self, session: Session, p: Prepared, detail: str) -> None:
        # The roots go on as they would have; the storm is over, its edits with it.
        storm = session.get(Storm, p.storm_id)
        if storm is not None:
            storm.status = StormStatus.FAILED
            storm.closed_at = utcnow()
            session.add(storm)
        fail_waiting(
            session, col(OutboxMessage.storm_id) == p.storm_id, f"storm message failed: {detail}"
        )


class StormUpdate(MessageKind):
    """An edit of the storm message, once it is posted."""

    kind = OutboxKind.STORM_UPDATE
    call = Call.UPDATE

    def prepare(self, session: Session, row: OutboxMessage, look: Look) -> Prepared | None:
        storm = session.get(Storm, row.storm_id)
        if storm is None or not storm.ts:
            return None  # not posted yet: the post will show the current state
        return _prepare_storm(session, row, look)

    def note_posted(self, session: Session, posted: Posted, ts: str) -> None:
        """The next edit waits ``edit_interval_s`` from now (``bot.outbox.storm``)."""
        storm = session.get(Storm, posted.storm_id)
        assert storm is not None
        storm.edited_at = utcnow()
        session.add(storm)


def _prepare_storm(session: Session, row: OutboxMessage, look: Look) -> Prepared:
    assert row.id is not None
    assert row.storm_id is not None
    # Every edit waiting for this message is answered by this render.
    merge_waiting(
        session,
        row.id,
        col(OutboxMessage.storm_id) == row.storm_id,
        col(OutboxMessage.kind) == OutboxKind.STORM_UPDATE,
    )
    take(session, row)
    storm = session.get(Storm, row.storm_id)
    assert storm is not None
    session.refresh(storm)  # render what was committed before the requests were taken
    lines = storm_lines(session, storm, look.workspace_url)
    storm.shown = len(lines)
    storm.shown_settled = sum(1 for line in lines if line.open or line.failed)
    session.add(storm)
    text, blocks = storm_message(lines, done=storm.status == StormStatus.DONE)
    return Prepared(
        kind=row.kind,
        channel=row.channel,
        incident_id=None,
        row_ids=[row.id],
        text=text,
        blocks=blocks,
        root_ts=storm.ts,
        storm_id=storm.id,
    )


def storm_lines(session: Session, storm: Storm, workspace_url: str | None) -> list[StormLine]:
    """The storm's incidents as its message names them, in the order they were listed."""
    rows = session.exec(
        select(Incident)
        .join(StormEntry, col(StormEntry.incident_id) == col(Incident.id))
        .where(StormEntry.storm_id == storm.id)
        .order_by(col(StormEntry.id))
    ).all()
    refused = set(
        session.exec(
            select(OutboxMessage.incident_id).where(
                col(OutboxMessage.incident_id).in_([i.id for i in rows]),
                OutboxMessage.kind == OutboxKind.ROOT_POST,
                OutboxMessage.status == OutboxStatus.FAILED,
            )
        ).all()
    )
    lines = []
    for incident in rows:
        assert incident.id is not None
        ts, channel = incident.slack_ts, incident.slack_channel
        lines.append(
            StormLine(
                number=incident.id,
                title=incident.title,
                service=incident.service,
                severity=incident.severity,
                thread_url=thread_url(workspace_url, channel, ts)
                if ts and channel and workspace_url
                else None,
                open=bool(ts),
                failed=incident.id in refused,
            )
        )
    return lines
