"""``/ops declare``, ``/ops severity``, ``/ops lead``, ``/ops update``: the incident's
bookkeeping, by people.

Each is an action (``actions/incident_moves.py``): policy, audit, dry run and once-only as for
any other. In Slack, ``/ops declare`` with nothing after it opens the declare modal instead
(``bot/chat/slack/declare.py``); the console and a full command line use this grammar:

    declare [--service S] [--severity sev2] [--page] [--dry-run] <title…>
    severity <sev> [#N] [--dry-run]
    lead <@user|me> [#N] [--dry-run]
    update [#N] <text…> [--dry-run]
"""

from __future__ import annotations

import re

from bot.chat.commands.base import CommandContext, Handler, Reply, answer, ready, say, split_flags
from bot.chat.commands.incident_ref import anywhere_or_here
from bot.chat.commands.incident_ref import leading_or_here as incident_here
from bot.runner.ops import Ops
from bot.store.run_models import RunStatus, RunView

MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$")
DECLARE_USAGE = "Usage: /ops declare [--service S] [--severity sev2] [--page] [--dry-run] <title…>"


def declare_params(
    ctx: CommandContext,
    *,
    title: str,
    service: str | None,
    severity: str | None,
    description: str = "",
    quote: tuple[str, str | None, str | None] | None = None,
) -> dict[str, object]:
    """The ``declare_incident`` params; severity defaults to the catalog's lowest. ``quote``:
    the text, author and permalink of the message it is declared from."""
    text, author, link = quote if quote is not None else (None, None, None)
    return {
        "title": title,
        "service": service or None,
        "severity": severity or ctx.catalog.severities[-1],
        "description": description,
        "quote": text,
        "quote_author": author,
        "quote_link": link,
    }


def declare(ops: Ops, user: str, params: dict[str, object], *, dry: bool = False) -> RunView:
    """Declare through the action path."""
    return ops.executor.request("declare_incident", params, actor=user, dry_run=dry)


def page_declared(
    ops: Ops, user: str, params: dict[str, object], declared: RunView
) -> RunView | None:
    """Page the on-call of the service a declared incident names (None: it names none)."""
    incident_id = (declared.result.get("data") or {}).get("incident_id")
    service = params.get("service")
    if not isinstance(incident_id, int) or not service:
        return None
    return ops.executor.request(
        "page_service",
        {"service": service, "title": str(params["title"]), "incident_id": incident_id},
        actor=user,
        incident_id=incident_id,
    )


def cmd_declare(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    page = "--page" in args
    args = [a for a in args if a != "--page"]
    options: dict[str, str] = {}
    words: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("--service", "--severity"):
            if i + 1 >= len(args):
                return say(DECLARE_USAGE, ok=False)
            options[args[i][2:]] = args[i + 1]
            i += 2
            continue
        words.append(args[i])
        i += 1
    if not words:
        return say(DECLARE_USAGE, ok=False)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    params = declare_params(
        ctx,
        title=" ".join(words),
        service=options.get("service"),
        severity=options.get("severity"),
    )
    view = declare(ops, ctx.user, params, dry=dry)
    reply = answer(ctx, view)
    if view.status != RunStatus.SUCCEEDED or not page:
        return reply
    paged = page_declared(ops, ctx.user, params, view)
    if paged is None:
        return say(reply.text + "\nNot paged: the incident names no service.", public=True)
    return say(f"{reply.text}\nPage: {paged.message}", public=True)


def cmd_severity(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    incident_id, rest, why = anywhere_or_here(ctx, args)
    levels = ", ".join(ctx.catalog.severities)
    if len(rest) != 1:
        return say(f"Usage: /ops severity <{'|'.join(ctx.catalog.severities)}> [#N]", ok=False)
    if incident_id is None:
        return say(why, ok=False)
    severity = rest[0].lower()
    if severity not in ctx.catalog.severities:
        return say(f"Severity `{rest[0]}` is not one of {levels}.", ok=False)
    view = ops.executor.request(
        "set_severity",
        {"incident_id": incident_id, "severity": severity},
        actor=ctx.user,
        incident_id=incident_id,
        dry_run=dry,
    )
    return answer(ctx, view)


def cmd_lead(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    incident_id, rest, why = anywhere_or_here(ctx, args)
    if len(rest) != 1:
        return say("Usage: /ops lead <@someone|me> [#N]", ok=False)
    if incident_id is None:
        return say(why, ok=False)
    who = rest[0]
    if who.lower() == "me":
        lead = ctx.user
    elif match := MENTION.match(who):
        lead = match.group(1)
    else:
        lead = who.lstrip("@")
    view = ops.executor.request(
        "set_lead",
        {"incident_id": incident_id, "lead": lead},
        actor=ctx.user,
        incident_id=incident_id,
        dry_run=dry,
    )
    return answer(ctx, view)


def cmd_update(ctx: CommandContext, args: list[str]) -> Reply:
    args, dry = split_flags(args)
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    incident_id, rest, why = incident_here(ctx, args)
    if not rest:
        return say("Usage: /ops update [#N] <what is happening, what is next>", ok=False)
    if incident_id is None:
        return say(why, ok=False)
    view = ops.executor.request(
        "post_status_update",
        {"incident_id": incident_id, "text": " ".join(rest)},
        actor=ctx.user,
        incident_id=incident_id,
        dry_run=dry,
    )
    return answer(ctx, view)


MOVE_COMMANDS: dict[str, Handler] = {
    "declare": cmd_declare,
    "severity": cmd_severity,
    "lead": cmd_lead,
    "update": cmd_update,
}
