"""``/ops report [30d]``: reliability KPIs over the last 30 days (or 24h, 7d, 2w, … 365d).

The change-failure window is ``OPSBOT_CHANGE_FAILURE_WINDOW_MIN`` as the command context carries
it (Slack and the console pass the settings' value; the default, 360 minutes, otherwise), the
same as ``GET /api/v1/report``; the report says which window it used.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from bot.chat.commands.base import CommandContext, Handler, Reply, reply
from bot.reports.drift_coverage import read_rules
from bot.reports.kpis import reliability_report
from bot.reports.period import DEFAULT_PERIOD, PERIOD_HELP, PeriodError, parse_length
from bot.reports.render import report_lines
from bot.store.types import utcnow

USAGE = f"Usage: /ops report [period]   (period: {PERIOD_HELP}; default 30d)"


def cmd_report(ctx: CommandContext, args: list[str]) -> Reply:
    if len(args) > 1:
        return reply([USAGE], ok=False)
    length = DEFAULT_PERIOD
    if args:
        try:
            parsed = parse_length(args[0])
        except PeriodError as exc:
            return reply([str(exc), USAGE], ok=False)
        if parsed is None:
            return reply([f"Could not read `{args[0]}` as a period.", USAGE], ok=False)
        length = parsed
    rules = read_rules(ctx.prometheus)
    until = utcnow()
    with Session(ctx.engine) as session:
        report = reliability_report(
            session,
            since=until - length,
            until=until,
            change_window=timedelta(minutes=ctx.change_window_min),
            catalog=ctx.catalog,
            rules=rules,
        )
    return reply(report_lines(report))


REPORT_COMMANDS: dict[str, Handler] = {"report": cmd_report}
