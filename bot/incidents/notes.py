"""Putting Slack messages on an incident's timeline: a message someone reacted to with the
timeline emoji (``OPSBOT_TIMELINE_EMOJI``), and the questions asked of opsbot in the thread.

Every note (these, and ``/ops note``) goes through ``record_note``: a ``follow-up:`` / ``todo:``
/ ``action item:`` note becomes a tracked item in the same transaction
(``bot/incidents/follow_ups.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.incidents import timeline
from bot.incidents.follow_ups import capture
from bot.store.models import Incident, TimelineEvent
from bot.store.oncall_models import FollowUp
from bot.store.tx import run_tx

TEXT_LIMIT = 2000


def incident_for_thread(session: Session, channel: str, thread_ts: str | None) -> Incident | None:
    if not thread_ts:
        return None
    return session.exec(
        select(Incident).where(Incident.slack_channel == channel, Incident.slack_ts == thread_ts)
    ).first()


def record_note(
    session: Session, incident_id: int, text: str, *, actor: str, data: dict[str, Any]
) -> tuple[TimelineEvent, FollowUp | None]:
    """A note on the incident's timeline (its id set), and its follow-up item when it is one."""
    event = timeline.add(session, incident_id, "note", text, actor=actor, data=data)
    session.flush()
    return event, capture(session, event)


def pin_message(
    engine: Engine,
    *,
    channel: str,
    thread_ts: str,
    message_ts: str,
    text: str,
    author: str | None,
    actor: str,
) -> int | None:
    """The timeline event for a message in an incident's thread (added once, however many
    people react or how often Slack redelivers; ``reactors`` lists who pinned it); None when
    the thread is no incident's."""

    def work(session: Session) -> int | None:
        incident = incident_for_thread(session, channel, thread_ts)
        if incident is None or incident.id is None:
            return None
        for event in session.exec(
            select(TimelineEvent).where(
                TimelineEvent.incident_id == incident.id, col(TimelineEvent.kind) == "note"
            )
        ).all():
            if event.data.get("message_ts") == message_ts:
                reactors = list(event.data.get("reactors") or [])
                if actor not in reactors:  # who else pinned it; still one event
                    event.data = {**event.data, "reactors": [*reactors, actor]}
                    session.add(event)
                return event.id
        body = text.strip() or "(a message with no text)"
        if len(body) > TEXT_LIMIT:
            body = body[:TEXT_LIMIT] + "…"
        event, _ = record_note(
            session,
            incident.id,
            body,
            actor=actor,
            data={
                "via": "reaction",
                "message_ts": message_ts,
                "author": author,
                "reactors": [actor],
            },
        )
        return event.id

    return run_tx(engine, work)


def record_question(
    engine: Engine, incident_id: int, *, user: str, question: str, answered_with: str
) -> None:
    """A question asked of opsbot in the thread, and how it was answered (LLM or enrichment)."""

    def work(session: Session) -> None:
        q = question.strip()
        timeline.add(
            session,
            incident_id,
            "triage",
            f"Asked opsbot: {q[:500]}",
            actor=user,
            data={"answered_with": answered_with},
        )

    run_tx(engine, work)
