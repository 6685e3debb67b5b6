"""Which incident a command is about. Slack does not say which thread a slash command was typed
in, so each command names it, or takes it from where it was asked; each way is here, once."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot.chat.commands.base import CommandContext
from bot.incidents.queries import the_open_incident_of
from bot.store.models import Incident, IncidentStatus


def number(word: str) -> int | None:
    """``12`` or ``#12``."""
    digits = word.lstrip("#")
    return int(digits) if digits.isdigit() else None


def leading_or_here(ctx: CommandContext, args: list[str]) -> tuple[int | None, list[str], str]:
    """(incident id, the remaining args, why none) from a leading ``#N``, the context's
    incident, or the channel's one open incident (``note``, ``summary``)."""
    if args and (n := number(args[0])) is not None:
        return n, args[1:], ""
    if ctx.incident_id is not None:
        return ctx.incident_id, args, ""
    if ctx.channel is None:
        return None, args, "Say which incident: `#12`."
    with Session(ctx.engine) as session:
        open_here = session.exec(
            select(Incident.id)
            .where(
                Incident.slack_channel == ctx.channel,
                col(Incident.status).in_(IncidentStatus.OPEN),
            )
            .limit(2)
        ).all()
    if len(open_here) == 1:
        return open_here[0], args, ""
    if not open_here:
        return None, args, "No open incident in this channel: say which one, e.g. `#12`."
    return None, args, "Several incidents are open in this channel: say which one, e.g. `#12`."


def anywhere_or_here(ctx: CommandContext, args: list[str]) -> tuple[int | None, list[str], str]:
    """``#N`` anywhere in the arguments (``severity sev1 #12``), else as ``leading_or_here``."""
    for i, word in enumerate(args):
        if word.startswith("#") and (n := number(word)) is not None:
            return n, args[:i] + args[i + 1 :], ""
    return leading_or_here(ctx, args)


def only_argument(ctx: CommandContext, args: list[str]) -> int | None:
    """The one argument ``#N``, or the context's incident when there is none (``ack``,
    ``resolve``)."""
    if len(args) == 1:
        return number(args[0])
    if not args:
        return ctx.incident_id
    return None


def of_service(ctx: CommandContext, service: str | None) -> int | None:
    """The context's incident, else the service's one open incident: ``/ops rollback
    fraud-scorer`` during its incident lands on that incident's timeline."""
    if ctx.incident_id is not None:
        return ctx.incident_id
    with Session(ctx.engine) as session:
        return the_open_incident_of(session, service)


def take_flag(args: list[str]) -> tuple[list[str], int | None, str | None]:
    """Take ``--incident N`` (or ``--incident #N``) out of the arguments (the job commands)."""
    out: list[str] = []
    incident: int | None = None
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--incident":
            value = number(args[i + 1]) if i + 1 < len(args) else None
            if value is None:
                return out, None, "--incident needs an incident number"
            incident = value
            i += 2
            continue
        out.append(word)
        i += 1
    return out, incident, None
