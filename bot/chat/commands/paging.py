"""``/ops oncall`` and ``/ops page``: who is on call, and paging them, through PagerDuty.

    oncall [service]
        Who is on call for the service (PagerDuty's on-calls for its escalation policy), level by
        level, and the next hand-over. No service: the incident's (``#N``, or the one this runs
        for), else every catalog service with a ``pagerduty:`` block. Read-only: no policy, no
        approval; PagerDuty's errors are said as they are.
    page [#N] [service] [--urgency low] [--dry-run] [message…]
        The incident is not on PagerDuty yet: open a PagerDuty incident for the service (the
        incident's own when none is named) and link it (``page_service``); the message is its
        title (default: the incident's title).
    page [#N] [@name|email|service|policy id…] [--dry-run] [message…]
        The incident is on PagerDuty: ask more responders to join (``request_responders``):
        ``@name`` or an email is a PagerDuty user, a catalog service is its escalation policy, a
        ``P…`` id an escalation policy. No one named: the incident's service's escalation policy.

Which incident: a leading ``#N``, the one this runs for (a thread, a button), the named service's
one open incident, or the channel's one open incident. Both moves go through the one execution
path: policy decides who may page, the audit keeps who did, ``--dry-run`` shows the plan.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session

from bot.catalog.model import PAGERDUTY_ID, Service
from bot.chat.commands.base import CommandContext, Handler, Reply, answer, ready, reply, say
from bot.chat.commands.incident_ref import leading_or_here, number, of_service
from bot.clients.pagerduty import PagerDutyClient
from bot.errors import ExternalServiceError
from bot.incidents.oncall import NotPaged, on_call
from bot.render.paging import oncall_lines
from bot.store.models import Incident

ONCALL_USAGE = "Usage: /ops oncall [service]"
PAGE_USAGE = (
    "Usage: /ops page [#N] [service] [--urgency low] [--dry-run] [message…]  (open a PagerDuty "
    "incident)\n       /ops page [#N] @name|email|service|<escalation policy id>… [message…]  "
    "(ask more responders on an incident already on PagerDuty)"
)
_POLICY = re.compile(PAGERDUTY_ID)


def _client(ctx: CommandContext) -> PagerDutyClient | Reply:
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    client = ops.executor.clients.pagerduty
    if client is None:
        return say(
            "PagerDuty is not configured here (PAGERDUTY_API_TOKEN and OPSBOT_PAGERDUTY_FROM).",
            ok=False,
        )
    return client


def cmd_oncall(ctx: CommandContext, args: list[str]) -> Reply:
    client = _client(ctx)
    if isinstance(client, Reply):
        return client
    assert ctx.ops is not None
    if len(args) > 1:
        return say(ONCALL_USAGE, ok=False)
    if args and number(args[0]) is None:
        entry = ctx.catalog.get(args[0])
        if entry is None:
            return say(f"No service `{args[0]}` in the service catalog.", ok=False)
        services = [entry]
    else:
        incident_id, _, _ = leading_or_here(ctx, args)
        incident = _incident(ctx, incident_id) if incident_id is not None else None
        if args and incident is None:
            return say(f"No incident {args[0]}.", ok=False)
        entry = ctx.catalog.get(incident.service) if incident is not None else None
        services = [entry] if entry is not None else _paged_services(ctx)
        if not services:
            return say("No service in the catalog has a `pagerduty:` block.", ok=False)
    now = ctx.ops.executor.clock()
    lines: list[str] = []
    failures = 0
    for service in services:
        try:
            lines += oncall_lines(on_call(client, service, now))
        except NotPaged as exc:
            lines.append(f"{service.name}: {exc}")
            failures += 1
        except ExternalServiceError as exc:
            lines.append(f"{service.name}: PagerDuty could not say who is on call: {exc}")
            failures += 1
    return reply(lines, ok=failures < len(services))


def cmd_page(ctx: CommandContext, args: list[str]) -> Reply:
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    parsed = _flags(args)
    if isinstance(parsed, Reply):
        return parsed
    words, dry, urgency = parsed
    explicit = number(words[0]) if words else None
    if explicit is not None:
        words = words[1:]
    service = ctx.catalog.get(words[0]) if words else None
    incident = _which(ctx, explicit, service)
    if isinstance(incident, Reply):
        return incident
    if incident is not None and incident.pagerduty_incident_id:
        return _responders(ctx, incident, words, dry)
    if service is not None:
        words = words[1:]
    elif incident is not None:
        service = ctx.catalog.get(incident.service)
    if service is None:
        named = incident.service if incident is not None else None
        why = f"`{named}` is not in the service catalog. " if named else ""
        return say(f"{why}Say which service to page.\n{PAGE_USAGE}", ok=False)
    params: dict[str, Any] = {"service": service.name, "urgency": urgency}
    if words:
        params["title"] = " ".join(words)
    view = ops.executor.request(
        "page_service",
        params,
        actor=ctx.user,
        dry_run=dry,
        incident_id=incident.id if incident is not None else None,
    )
    return answer(ctx, view)


def _responders(ctx: CommandContext, incident: Incident, words: list[str], dry: bool) -> Reply:
    assert ctx.ops is not None
    assert incident.pagerduty_incident_id is not None
    users: list[str] = []
    policies: list[str] = []
    while words:
        word = words[0]
        entry = ctx.catalog.get(word)
        if word.startswith("@") or "@" in word:
            users.append(word.lstrip("@"))
        elif _POLICY.match(word):
            policies.append(word)
        elif entry is not None:
            policy = _policy_of(entry)
            if policy is None:
                return say(f"{word} names no escalation policy in the service catalog.", ok=False)
            policies.append(policy)
        else:
            break
        words = words[1:]
    if not users and not policies:
        own = ctx.catalog.get(incident.service)
        policy = _policy_of(own) if own is not None else None
        if policy is None:
            return say(
                f"#{incident.id} is on PagerDuty ({incident.pagerduty_incident_id}); say whom "
                f"to ask.\n{PAGE_USAGE}",
                ok=False,
            )
        policies.append(policy)
    params: dict[str, Any] = {
        "incident_id": incident.pagerduty_incident_id,
        "users": list(dict.fromkeys(users)),
        "escalation_policies": list(dict.fromkeys(policies)),
        "message": " ".join(words),
    }
    view = ctx.ops.executor.request(
        "request_responders", params, actor=ctx.user, dry_run=dry, incident_id=incident.id
    )
    return answer(ctx, view)


def _flags(args: list[str]) -> tuple[list[str], bool, str] | Reply:
    """The words, ``--dry-run``, ``--urgency high|low`` (or ``--urgency=low``)."""
    words: list[str] = []
    dry, urgency = False, "high"
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--dry-run":
            dry = True
        elif word == "--urgency" or word.startswith("--urgency="):
            value = word.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
            if value not in ("high", "low"):
                return say(f"--urgency is high or low.\n{PAGE_USAGE}", ok=False)
            urgency = value
            i += 0 if "=" in word else 1
        else:
            words.append(word)
        i += 1
    return words, dry, urgency


def _which(
    ctx: CommandContext, explicit: int | None, service: Service | None
) -> Incident | Reply | None:
    """The incident this page is about (see the module docstring), None for none."""
    if explicit is not None:
        found = _incident(ctx, explicit)
        return found if found is not None else say(f"No incident #{explicit}.", ok=False)
    if ctx.incident_id is None and service is not None:
        incident_id = of_service(ctx, service.name)
    else:
        incident_id, _, _ = leading_or_here(ctx, [])
    return _incident(ctx, incident_id) if incident_id is not None else None


def _incident(ctx: CommandContext, incident_id: int) -> Incident | None:
    with Session(ctx.engine) as session:
        return session.get(Incident, incident_id)


def _paged_services(ctx: CommandContext) -> list[Service]:
    return [s for s in ctx.catalog.services.values() if s.pagerduty is not None]


def _policy_of(entry: Service) -> str | None:
    return entry.pagerduty.escalation_policy if entry.pagerduty is not None else None


PAGING_COMMANDS: dict[str, Handler] = {"oncall": cmd_oncall, "page": cmd_page}
