"""The read-only lookups: help, incidents, incident, deploys, changes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.changes import deployments
from bot.chat.commands.base import CommandContext, Handler, Reply, reply
from bot.chat.commands.usage import USAGE
from bot.enrich.change_sources import service_changes
from bot.incidents.queries import alert_counts, list_incidents, timeline_of
from bot.intake.lengths import parse_length
from bot.reports.period import parse_time
from bot.store.models import Incident
from bot.store.types import utcnow


def cmd_help(ctx: CommandContext, args: list[str]) -> Reply:
    return reply(USAGE.splitlines())


def cmd_incidents(ctx: CommandContext, args: list[str]) -> Reply:
    status = args[0] if args else "open"
    if status not in ("open", "resolved", "all") or len(args) > 1:
        return reply(["Usage: /ops incidents [open|resolved|all]"], ok=False)
    with Session(ctx.engine) as session:
        incidents = list_incidents(session, status=status, limit=30)
        if not incidents:
            return reply([f"No {status} incidents." if status != "all" else "No incidents."])
        lines = [f"{len(incidents)} {status} incident(s):"]
        for inc in incidents:
            assert inc.id is not None
            firing, total = alert_counts(session, inc.id)
            lines.append(_incident_line(inc, firing, total))
    return reply(lines)


def _incident_line(inc: Incident, firing: int, total: int) -> str:
    return (
        f"#{inc.id} [{inc.status}] {inc.title} — severity {inc.severity or '?'}, "
        f"service {inc.service or '?'}, since {inc.opened_at:%Y-%m-%d %H:%M} UTC, "
        f"{firing}/{total} alerts firing"
    )


def cmd_incident(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) != 1 or not args[0].lstrip("#").isdigit():
        return reply(["Usage: /ops incident <id>   (for example: /ops incident 12)"], ok=False)
    incident_id = int(args[0].lstrip("#"))
    with Session(ctx.engine) as session:
        inc = session.get(Incident, incident_id)
        if inc is None:
            return reply([f"No incident #{incident_id}. Try /ops incidents all."], ok=False)
        firing, total = alert_counts(session, incident_id)
        lines = [_incident_line(inc, firing, total)]
        if inc.pagerduty_url:
            lines.append(f"PagerDuty: {inc.pagerduty_url}")
        lines.append("Timeline:")
        for event in timeline_of(session, incident_id):
            who = f" ({event.actor})" if event.actor else ""
            lines.append(f"  {event.at:%H:%M:%S} {event.kind}{who}: {event.text}")
    return reply(lines)


def cmd_deploys(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) != 1:
        return reply(
            ["Usage: /ops deploys <service>   (for example: /ops deploys fraud-scorer)"], ok=False
        )
    service = args[0]
    with Session(ctx.engine) as session:
        rows = deployments.recent(session, service, limit=15)
    if not rows:
        return reply([f"No deploys recorded for {service}."])
    lines = [f"Recent deploys of {service} (newest first):"]
    for d in rows:
        who = f" by {d.actor}" if d.actor else ""
        commit = f" ({d.commit[:12]})" if d.commit else ""
        lines.append(
            f"{d.deployed_at:%Y-%m-%d %H:%M} UTC [{d.environment}] {d.kind} {d.version}"
            f"{commit}{who}"
        )
    return reply(lines)


CHANGES_SINCE_LONGEST = timedelta(days=365)
CHANGES_LIMIT = 200  # read; the reply lists the newest 40 and counts the rest


def parse_since(text: str, now: datetime) -> datetime | None:
    """A length back from now (``30m``, ``6h``, ``2d``, ``2w``; up to 365 days), or an ISO 8601
    time (UTC unless it says otherwise); None when it is neither. ``LengthError`` or
    ``PeriodError`` (both ``ValueError``) say why one that is written so cannot be used."""
    length = parse_length(text, shortest=timedelta(minutes=1), longest=CHANGES_SINCE_LONGEST)
    if length is not None:
        return now - length
    return parse_time(text)


def cmd_changes(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops changes <service> [since]   (for example: /ops changes fraud-scorer 6h)"
    if not 1 <= len(args) <= 2:
        return reply([usage], ok=False)
    service = args[0]
    now = utcnow()
    try:
        since = parse_since(args[1], now) if len(args) == 2 else now - timedelta(hours=24)
    except ValueError as exc:
        return reply([str(exc), usage], ok=False)
    if since is None:
        return reply([f"Could not read `{args[1]}` as a time.", usage], ok=False)
    entry = ctx.catalog.get(service)
    with Session(ctx.engine) as session:
        changes = service_changes(session, service, entry, since, now, limit=CHANGES_LIMIT)
    window = f"since {since:%Y-%m-%d %H:%M} UTC"
    if not changes:
        datasets = "" if entry and entry.datasets else " (no datasets in the catalog for it)"
        return reply([f"No changes to {service} {window}{datasets}."])
    lines = [f"Changes to {service} {window}, newest first:"]
    for c in changes[:40]:
        lines.append(f"{c.at:%Y-%m-%d %H:%M} UTC [{c.kind}] {c.summary}")
    if len(changes) > 40:
        lines.append(f"…and {len(changes) - 40} more")
    return reply(lines)


LOOKUP_COMMANDS: dict[str, Handler] = {
    "help": cmd_help,
    "incidents": cmd_incidents,
    "incident": cmd_incident,
    "deploys": cmd_deploys,
    "changes": cmd_changes,
}
