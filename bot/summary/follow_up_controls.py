"""The summary's follow-up controls, redrawn in place when an item changes.

The summary in the thread is sent from its stored blocks (``incident_summary.slack_blocks``), so
marking an item done need not wait for a new summary: its Done buttons and done line
(``slack.follow_up_controls``) are swapped in the stored blocks, in the caller's transaction, and
one ``summary_update`` edits the message (a post still waiting takes the new blocks with it). The
rest of the summary, an LLM's version included, stays as it is; the next summary draws
everything from the facts again, with the items' states.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from bot.incidents.queries import timeline_of
from bot.outbox.queue import INTERACTIVE, enqueue_summary
from bot.store.models import Incident, OutboxKind
from bot.store.oncall_models import FollowUp
from bot.store.types import utcnow
from bot.summary.model import Tracked, actors_of
from bot.summary.requests import summary_of
from bot.summary.slack import follow_up_controls, with_follow_up_controls


def redraw_follow_ups(session: Session, incident: Incident, items: Sequence[FollowUp]) -> bool:
    """Swap the controls of ``incident``'s summary for those of ``items`` (all its items); True
    when the summary changed. A summary drawn before any item was tracked is left alone."""
    assert incident.id is not None
    summary = summary_of(session, incident.id)
    if summary is None or not summary.slack_blocks:
        return False
    actors = actors_of(e.actor for e in timeline_of(session, incident.id))
    controls = follow_up_controls([Tracked.of(row) for row in items], actors)
    blocks = with_follow_up_controls(summary.slack_blocks, controls)
    if blocks is None or blocks == summary.slack_blocks:
        return False
    summary.slack_blocks = blocks
    summary.updated_at = utcnow()
    session.add(summary)
    if summary.message_ts:
        enqueue_summary(session, incident, OutboxKind.SUMMARY_UPDATE, priority=INTERACTIVE)
    return True
