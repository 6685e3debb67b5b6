"""``/ops silence``, ``/ops silences``, ``/ops unsilence``: Alertmanager silences from a thread.

    silence <1h|4h|monday|until <time>> [#N] [--dry-run]
    silences [#N]
    unsilence [<number>|<silence id>|#N] [--dry-run]

``silence`` silences the incident's group labels (``bot/incidents/group_labels.py``) until the
window ends (``bot/incidents/silence_windows.py``) through the ``silence_alerts`` action;
``unsilence`` expires one silence (opsbot's number of it, or Alertmanager's id) or each active
one of the incident through ``expire_silence``. ``silences`` lists the active ones opsbot made.
The root's select (Slack) runs ``silence`` for its choice (``silence_choice``).
"""

from __future__ import annotations

from sqlmodel import Session

from bot.chat.commands.base import (
    CommandContext,
    Handler,
    Reply,
    answer,
    ready,
    reply,
    say,
    split_flags,
)
from bot.chat.commands.incident_ref import anywhere_or_here, leading_or_here, number
from bot.clients.alertmanager import SILENCE_ID
from bot.incidents.group_labels import NoGroupLabels, silence_matchers
from bot.incidents.silence_windows import (
    CHOICES,
    CUSTOM,
    HELP,
    WindowError,
    custom_hint,
    parse_window,
    until_text,
)
from bot.incidents.silences import SilenceBook
from bot.render.silences import matchers_text, person
from bot.store.models import Incident
from bot.store.oncall_models import Silence
from bot.store.types import utcnow

SILENCE_USAGE = "Usage: /ops silence <1h|4h|monday|until <time>> [#incident] [--dry-run]"
UNSILENCE_USAGE = "Usage: /ops unsilence [<silence number>|<silence id>|#incident] [--dry-run]"


def cmd_silence(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    incident_id, rest, why = anywhere_or_here(ctx, args)
    if not rest:
        return say(f"{SILENCE_USAGE}\n{HELP}", ok=False)
    if incident_id is None:
        return say(why, ok=False)
    try:
        ends_at = parse_window(rest, ops.executor.clock())
    except WindowError as exc:
        return say(str(exc), ok=False)
    with Session(ctx.engine) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return say(f"There is no incident #{incident_id}.", ok=False)
        try:
            matchers = silence_matchers(incident)
        except NoGroupLabels as exc:
            return say(str(exc), ok=False)
    view = ops.executor.request(
        "silence_alerts",
        {
            "incident_id": incident_id,
            "matchers": matchers.labels,
            "ends_at": ends_at.isoformat(),
        },
        actor=ctx.user,
        incident_id=incident_id,
        dry_run=dry,
    )
    return answer(ctx, view)


def silence_choice(ctx: CommandContext, value: str) -> Reply:
    """A choice in the root's select (``<incident>:<choice>``): ``silence`` for it, or, for
    "Custom…", the command to type."""
    incident, _, choice = value.partition(":")
    if not incident.isdigit() or choice not in (*CHOICES, CUSTOM):
        return say("That choice is not one of opsbot's; nothing was silenced.", ok=False)
    if choice == CUSTOM:
        return say(custom_hint(int(incident), utcnow()))
    return cmd_silence(ctx, [choice, f"#{incident}"])


def _line(silence: Silence) -> str:
    return (
        f"{silence.id}. #{silence.incident_id} {matchers_text(silence)} until "
        f"{until_text(silence.ends_at, utcnow())}, by {person(silence.created_by)} "
        f"(Alertmanager {silence.silence_id})"
    )


def cmd_silences(ctx: CommandContext, args: list[str]) -> Reply:
    incident_id = None
    if args:
        incident_id = number(args[0]) if len(args) == 1 else None
        if incident_id is None:
            return say("Usage: /ops silences [#incident]", ok=False)
    elif ctx.incident_id is not None:
        incident_id = ctx.incident_id
    active = SilenceBook(ctx.engine).active(incident_id)
    where = f" for #{incident_id}" if incident_id is not None else ""
    if not active:
        return say(f"No active silence{where} made by opsbot.")
    lines = [f"Active silences{where} made by opsbot (expire one: /ops unsilence <number>):"]
    return reply(lines + [_line(s) for s in active])


def cmd_unsilence(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    if len(args) > 1:
        return say(UNSILENCE_USAGE, ok=False)
    book = SilenceBook(ctx.engine, ops.executor.clock)
    targets: list[tuple[str, int | None]] = []  # (Alertmanager id, incident)
    word = args[0] if args else ""
    if word.isdigit():
        row = book.get(int(word))
        if row is None:
            return say(f"opsbot made no silence {word} (see /ops silences).", ok=False)
        targets.append((row.silence_id, row.incident_id))
    elif SILENCE_ID.match(word.lower()):
        row = book.get(word.lower())
        targets.append((word.lower(), row.incident_id if row is not None else None))
    else:
        incident_id, rest, why = leading_or_here(ctx, args)
        if rest:
            return say(UNSILENCE_USAGE, ok=False)
        if incident_id is None:
            return say(why, ok=False)
        active = book.active(incident_id)
        if not active:
            return say(f"No active silence for #{incident_id} made by opsbot.", ok=False)
        targets.extend((s.silence_id, s.incident_id) for s in active)
    replies = [
        answer(
            ctx,
            ops.executor.request(
                "expire_silence",
                {"silence_id": silence_id},
                actor=ctx.user,
                incident_id=incident_id,
                dry_run=dry,
            ),
        )
        for silence_id, incident_id in targets
    ]
    if len(replies) == 1:
        return replies[0]
    ok = all(r.ok for r in replies)
    return say("\n".join(r.text for r in replies), ok=ok, public=any(r.public for r in replies))


SILENCE_COMMANDS: dict[str, Handler] = {
    "silence": cmd_silence,
    "silences": cmd_silences,
    "unsilence": cmd_unsilence,
}
