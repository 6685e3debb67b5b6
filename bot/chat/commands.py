"""The ``/ops`` command grammar, shared by Slack and the console.

A command is parsed into a name and arguments, run against the store, and answered with a
``Reply`` (text for the console and for notifications, Block Kit for Slack).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.model import Catalog
from bot.changes import deployments
from bot.chat.blocks import SECTION_TEXT_LIMIT, chunk_lines, escape
from bot.chat.incident_commands import INCIDENT_COMMANDS
from bot.chat.job_commands import JOB_COMMANDS
from bot.chat.ops_commands import OPS_COMMANDS
from bot.chat.report_commands import REPORT_COMMANDS
from bot.enrich.change_sources import data_change_events, deploy_changes
from bot.incidents.queries import alert_counts, list_incidents, timeline_of
from bot.lineage.queries import data_changes
from bot.store.models import Incident
from bot.store.types import utcnow


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    public: bool = False  # Slack: post in the channel (approvals, results), not just to the asker
    # Work to do after answering (a playbook going on after an approval): Slack runs it in the
    # background once the answer is sent, the console right after printing it.
    then: Callable[[], Any] | None = None


@dataclass
class CommandContext:
    engine: Engine
    user: str = "console"
    channel: str | None = None
    catalog: Catalog = field(default_factory=Catalog)
    ops: Any = None  # bot.chat.ops_commands.Ops: the executor and playbook runner, when available
    incident_id: int | None = None
    summaries: Any = None  # bot.summary.worker.SummaryWorker, where one runs (opsbot serve)
    change_window_min: int = 360  # OPSBOT_CHANGE_FAILURE_WINDOW_MIN, for `report`


Handler = Callable[[CommandContext, list[str]], Reply]

USAGE = """Usage: /ops <command>
  help                      this text
  incidents [open|resolved|all]
                            incidents, newest first (open by default)
  incident <id>             one incident: status, alerts and its timeline
  note [#id] <text>         add a note to an incident's timeline (and its thread)
  summary [#id]             the post-incident summary (posted in the thread; resolved or so far)
  deploys <service>         recent deploys of a service (code and model versions)
  changes <service> [since] deploys, model versions and data changes, newest first
                            (since: 30m, 6h, 2d or a time like 2026-11-27T03:00Z; default 24h)
  report [30d]              reliability KPIs: incidents, MTTA/MTTR, change failure rate,
                            rollbacks, top alerts (period 24h to 365d; default 30d)
  rollback <service> [to <revision>]   roll the Deployment back (approval per policy)
  scale <service> <replicas>           scale it (through its HPA when one owns it)
  restart <service>                    rolling restart
  rerun <pipeline>                     rerun a data / training pipeline
  playbooks                            the runbook playbooks
  run <playbook> <service> [key=value…]  run one
  approve <token> / reject <token>     decide an approval (Slack has buttons); reject is
                                       for approvers, or the requester (it withdraws it)
  withdraw <token>                     withdraw your own request before it is decided
  ack <incident> / resolve <incident>  here and on its PagerDuty incident
  train <template> [key=value…]        start a training job on Ray (gpus=1, wait=true, …)
  score <template> [key=value…]        start a batch-scoring job on Ray
  jobs / job <id> / stop <id>          Ray jobs: running and recent, one job, stop one
                                       (--incident N: follow the job in that incident's thread)
  Add --dry-run to any of these to see the plan without changing anything."""


def _reply(lines: list[str], *, ok: bool = True) -> Reply:
    text = "\n".join(lines)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in chunk_lines([escape(line) for line in lines], SECTION_TEXT_LIMIT)
    ][:50]
    return Reply(text=text, blocks=blocks, ok=ok)


def cmd_help(ctx: CommandContext, args: list[str]) -> Reply:
    return _reply(USAGE.splitlines())


def cmd_incidents(ctx: CommandContext, args: list[str]) -> Reply:
    status = args[0] if args else "open"
    if status not in ("open", "resolved", "all") or len(args) > 1:
        return _reply(["Usage: /ops incidents [open|resolved|all]"], ok=False)
    with Session(ctx.engine) as session:
        incidents = list_incidents(session, status=status, limit=30)
        if not incidents:
            return _reply([f"No {status} incidents." if status != "all" else "No incidents."])
        lines = [f"{len(incidents)} {status} incident(s):"]
        for inc in incidents:
            assert inc.id is not None
            firing, total = alert_counts(session, inc.id)
            lines.append(_incident_line(inc, firing, total))
    return _reply(lines)


def _incident_line(inc: Incident, firing: int, total: int) -> str:
    return (
        f"#{inc.id} [{inc.status}] {inc.title} — severity {inc.severity or '?'}, "
        f"service {inc.service or '?'}, since {inc.opened_at:%Y-%m-%d %H:%M} UTC, "
        f"{firing}/{total} alerts firing"
    )


def cmd_incident(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) != 1 or not args[0].lstrip("#").isdigit():
        return _reply(["Usage: /ops incident <id>   (for example: /ops incident 12)"], ok=False)
    incident_id = int(args[0].lstrip("#"))
    with Session(ctx.engine) as session:
        inc = session.get(Incident, incident_id)
        if inc is None:
            return _reply([f"No incident #{incident_id}. Try /ops incidents all."], ok=False)
        firing, total = alert_counts(session, incident_id)
        lines = [_incident_line(inc, firing, total)]
        if inc.pagerduty_url:
            lines.append(f"PagerDuty: {inc.pagerduty_url}")
        lines.append("Timeline:")
        for event in timeline_of(session, incident_id):
            who = f" ({event.actor})" if event.actor else ""
            lines.append(f"  {event.at:%H:%M:%S} {event.kind}{who}: {event.text}")
    return _reply(lines)


def cmd_deploys(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) != 1:
        return _reply(
            ["Usage: /ops deploys <service>   (for example: /ops deploys fraud-scorer)"], ok=False
        )
    service = args[0]
    with Session(ctx.engine) as session:
        rows = deployments.recent(session, service, limit=15)
    if not rows:
        return _reply([f"No deploys recorded for {service}."])
    lines = [f"Recent deploys of {service} (newest first):"]
    for d in rows:
        who = f" by {d.actor}" if d.actor else ""
        commit = f" ({d.commit[:12]})" if d.commit else ""
        lines.append(
            f"{d.deployed_at:%Y-%m-%d %H:%M} UTC [{d.environment}] {d.kind} {d.version}"
            f"{commit}{who}"
        )
    return _reply(lines)


SINCE_UNITS = {"m": 1, "h": 60, "d": 1440}
MAX_SINCE = timedelta(days=30)


def parse_since(text: str, now: datetime) -> datetime | None:
    """``30m`` / ``6h`` / ``2d`` ago, or an ISO 8601 time (UTC unless it says otherwise)."""
    if len(text) > 1 and text[:-1].isdigit() and text[-1] in SINCE_UNITS:
        return now - min(timedelta(minutes=int(text[:-1]) * SINCE_UNITS[text[-1]]), MAX_SINCE)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_changes(ctx: CommandContext, args: list[str]) -> Reply:
    usage = "Usage: /ops changes <service> [since]   (for example: /ops changes fraud-scorer 6h)"
    if not 1 <= len(args) <= 2:
        return _reply([usage], ok=False)
    service = args[0]
    now = utcnow()
    since = parse_since(args[1], now) if len(args) == 2 else now - timedelta(hours=24)
    if since is None:
        return _reply([f"Could not read `{args[1]}` as a time.", usage], ok=False)
    entry = ctx.catalog.get(service)
    with Session(ctx.engine) as session:
        rows = [d for d in deployments.between(session, since, now) if d.service == service]
        changes = deploy_changes(rows, service, entry.model if entry else None)
        if entry is not None and entry.datasets:
            changes += data_change_events(
                data_changes(session, entry.datasets, since, now), service
            )
    changes.sort(key=lambda c: c.at, reverse=True)
    window = f"since {since:%Y-%m-%d %H:%M} UTC"
    if not changes:
        datasets = "" if entry and entry.datasets else " (no datasets in the catalog for it)"
        return _reply([f"No changes to {service} {window}{datasets}."])
    lines = [f"Changes to {service} {window}, newest first:"]
    for c in changes[:40]:
        lines.append(f"{c.at:%Y-%m-%d %H:%M} UTC [{c.kind}] {c.summary}")
    if len(changes) > 40:
        lines.append(f"…and {len(changes) - 40} more")
    return _reply(lines)


COMMANDS: dict[str, Handler] = {
    "help": cmd_help,
    "incidents": cmd_incidents,
    "incident": cmd_incident,
    "deploys": cmd_deploys,
    "changes": cmd_changes,
    **INCIDENT_COMMANDS,
    **OPS_COMMANDS,
    **JOB_COMMANDS,
    **REPORT_COMMANDS,
}


def run_command(ctx: CommandContext, text: str) -> Reply:
    """Parse and run one command line (without the leading ``/ops``)."""
    try:
        words = shlex.split(text.strip())
    except ValueError as exc:
        return _reply([f"Could not parse that: {exc}.", "", *USAGE.splitlines()], ok=False)
    if words and words[0] == "/ops":
        words = words[1:]
    if not words:
        return cmd_help(ctx, [])
    name, args = words[0].lower(), words[1:]
    handler = COMMANDS.get(name)
    if handler is None:
        return _reply([f"Unknown command `{name}`.", "", *USAGE.splitlines()], ok=False)
    return handler(ctx, args)
