"""``/ops note`` and ``/ops summary``: a person's note on an incident's timeline, and the
post-incident summary on demand.

Slack does not say which thread a slash command was typed in, so both take the incident as
``#12`` (or ``12``); without it they use the one open incident of the channel, and ask when there
is none or several.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.chat.commands.base import CommandContext, Handler, Reply, reply
from bot.chat.commands.incident_ref import leading_or_here
from bot.incidents.notes import record_note
from bot.outbox.queue import INTERACTIVE, enqueue_reply
from bot.render.blocks import note_reply
from bot.store.models import Incident, IncidentStatus
from bot.store.tx import run_tx
from bot.summary.requests import request_summary, summary_of
from bot.text.mrkdwn import escape

NOTE_LIMIT = 2000


def cmd_note(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops note [#incident] <text>   (for example: /ops note #12 cause: bad feature)"
    incident_id, rest, why = leading_or_here(ctx, args)
    text = " ".join(rest).strip()
    if incident_id is None or not text:
        return reply([why or usage, usage] if why else [usage], ok=False)
    if len(text) > NOTE_LIMIT:
        return reply(
            [f"That note is {len(text)} characters; the most is {NOTE_LIMIT}.", usage], ok=False
        )
    return add_note(ctx.engine, incident_id, text, actor=ctx.user, via="command")


def add_note(
    engine: Any,
    incident_id: int,
    text: str,
    *,
    actor: str,
    via: str,
    data: dict[str, Any] | None = None,
) -> Reply:
    """Put a note on the timeline and in the thread (once per call)."""

    def work(session: Session) -> tuple[int, int | None] | str:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return f"No incident #{incident_id}."
        event, item = record_note(
            session, incident_id, text, actor=actor, data={"via": via, **(data or {})}
        )
        assert event.id is not None
        reply_text, blocks = note_reply(f":memo: Note by <@{escape(actor)}>: {escape(text)}")
        enqueue_reply(session, incident, reply_text, blocks, priority=INTERACTIVE)
        return event.id, item.id if item is not None else None

    found = run_tx(engine, work)
    if isinstance(found, str):
        return reply([found], ok=False)
    event_id, item_id = found
    lines = [f"Noted on #{incident_id}'s timeline (event #{event_id})."]
    if item_id is not None:
        lines.append(f"Tracked as follow-up #{item_id}: `/ops followup done {item_id}` when done.")
    return reply(lines)


def cmd_summary(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops summary [#incident]   (for example: /ops summary #12)"
    incident_id, rest, why = leading_or_here(ctx, args)
    if incident_id is None or rest:
        return reply([why, usage] if why else [usage], ok=False)

    def ask(session: Session) -> str | None:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return f"No incident #{incident_id}."
        final = incident.status == IncidentStatus.RESOLVED
        request_summary(session, incident, final=final, requested_by=ctx.user)
        return None

    missing = run_tx(ctx.engine, ask)
    if missing is not None:
        return reply([missing], ok=False)
    worker = ctx.summaries
    if worker is None:
        from bot.summary.worker import SummaryWorker

        worker = SummaryWorker(ctx.engine, ctx.catalog, on_saved=lambda: None)
    worker.write_template(incident_id)
    worker.on_saved()
    with Session(ctx.engine) as session:
        summary = summary_of(session, incident_id)
    if summary is None or not summary.markdown:
        return reply(
            [f"The summary of #{incident_id} could not be written; see the log."], ok=False
        )
    where = "It is posted in the incident's thread." if ctx.summaries is not None else ""
    return Reply(
        text=summary.markdown + ("\n\n" + where if where else ""),
        blocks=summary.slack_blocks,
    )


NOTE_COMMANDS: dict[str, Handler] = {"note": cmd_note, "summary": cmd_summary}
