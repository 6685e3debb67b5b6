"""``/ops followups`` and ``/ops followup done``: the tracked follow-ups
(``bot/incidents/follow_ups.py``), listed and ticked off.

    followups [open|mine|all] [#N]      newest first; open by default; mine: open and yours;
                                        #N: that incident's, else everywhere
    followup done <n> [--dry-run]       mark item n done (the summary's Done button runs this)

Marking one done is the ``complete_follow_up`` action: policy, audit, dry run and once-only as
for any other.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.chat.commands.base import (
    CommandContext,
    Handler,
    Reply,
    answer,
    ready,
    say,
    split_flags,
)
from bot.chat.commands.incident_ref import number
from bot.incidents.follow_ups import LIST_LIMIT, WHICH, Which, listing
from bot.render.blocks import mrkdwn_sections, to_dicts
from bot.render.follow_ups import item_line
from bot.store.types import utcnow

LIST_USAGE = "Usage: /ops followups [open|mine|all] [#incident]"
DONE_USAGE = "Usage: /ops followup done <number> [--dry-run]"


def cmd_followups(ctx: CommandContext, args: list[str]) -> Reply:
    which: Which = "open"
    incident_id = ctx.incident_id
    for word in args:
        lowered = word.lower()
        if lowered in WHICH:
            which = WHICH[WHICH.index(lowered)]
        elif word.startswith("#") and (n := number(word)) is not None:
            incident_id = n
        else:
            return say(LIST_USAGE, ok=False)
    with Session(ctx.engine) as session:
        rows = listing(session, which, user=ctx.user, incident_id=incident_id)
    now = utcnow()
    where = f"incident #{incident_id}" if incident_id is not None else "every incident"
    heading = {"open": "Open follow-ups", "mine": "Your open follow-ups", "all": "Follow-ups"}
    title = f"{heading[which]} of {where}"
    if not rows:
        return say(f"{title}: none.")
    more = f" (the newest {LIST_LIMIT})" if len(rows) == LIST_LIMIT else ""
    head = f"{title}, newest first{more}:"
    hint = "Mark one done: `/ops followup done <number>`."
    text = "\n".join([head, *(item_line(r, now, slack=False) for r in rows), hint])
    lines = [f"*{head}*", *(item_line(r, now, slack=True) for r in rows), hint]
    return Reply(text=text, blocks=to_dicts(mrkdwn_sections(lines)))


def cmd_followup(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    if len(args) != 2 or args[0].lower() != "done" or (n := number(args[1])) is None:
        return say(DONE_USAGE, ok=False)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    view = ops.executor.request(
        "complete_follow_up", {"follow_up_id": n}, actor=ctx.user, dry_run=dry
    )
    return answer(ctx, view)


FOLLOW_UP_COMMANDS: dict[str, Handler] = {
    "followups": cmd_followups,
    "followup": cmd_followup,
}
