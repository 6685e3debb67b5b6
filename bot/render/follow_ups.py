"""A tracked follow-up as one line, for ``/ops followups`` and ``/ops report``:

    #3 · incident #12 · owner <@U0ALICE> · open 2h05m — add a drift alert
    #4 · incident #12 · no owner · done by <@U0BOB> 12m00s ago — page the model owner

``slack=True`` gives mrkdwn (people as mentions, the item's text inert); ``slack=False`` plain
text (people as ``@U0ALICE``), for the console and for replies that escape their lines.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.render.jobs import duration
from bot.store.oncall_models import FollowUp, FollowUpState
from bot.text.mrkdwn import escape
from bot.text.slack_safe import safe_mrkdwn

TEXT_SHOWN = 150
_SPACE = re.compile(r"\s+")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def item_line(row: FollowUp, now: datetime, *, slack: bool) -> str:
    def person(user: str | None) -> str:
        if not user:
            return "someone"
        if not _SLACK_USER.match(user):  # the console's actor, e.g. console:alice
            return escape(user) if slack else user
        return f"<@{user}>" if slack else f"@{user}"

    owner = f"owner {person(row.owner)}" if row.owner else "no owner"
    if row.state == FollowUpState.DONE:
        ago = duration((now - row.done_at).total_seconds()) if row.done_at else "?"
        state = f"done by {person(row.done_by)} {ago} ago"
    else:
        state = f"open {duration((now - row.created_at).total_seconds())}"
    text = _SPACE.sub(" ", row.text).strip()
    if len(text) > TEXT_SHOWN:
        text = text[: TEXT_SHOWN - 1] + "…"
    if slack:
        text = safe_mrkdwn(text, limit=TEXT_SHOWN * 2)
    return f"#{row.id} · incident #{row.incident_id} · {owner} · {state} — {text}"
