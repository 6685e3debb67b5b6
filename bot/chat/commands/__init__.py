"""The ``/ops`` commands, shared by Slack and the console.

A command line is split into a name and arguments, run against the store (and the execution
path, for the commands that change something), and answered with a ``Reply``. Each module holds
one group of commands and exports its table; this one joins the tables and runs a line.

| module | commands |
| --- | --- |
| lookups | help, incidents, incident, deploys, changes |
| notes | note, summary |
| follow_ups | followups, followup |
| incident_status | ack, resolve |
| paging | oncall, page |
| incident_moves | declare, severity, lead, update |
| actions | rollback, scale, restart, rerun, playbooks, run, approve, reject, withdraw |
| jobs | train, score, jobs, job, stop |
| report | report |
| home | home |
| silences | silence, silences, unsilence |

``base`` holds the context, the reply and the argument helpers; ``incident_ref`` every way a
command finds its incident.
"""

from __future__ import annotations

import shlex

from bot.chat.commands.actions import ACTION_COMMANDS
from bot.chat.commands.base import CommandContext, Handler, Reply, reply
from bot.chat.commands.follow_ups import FOLLOW_UP_COMMANDS
from bot.chat.commands.home import HOME_COMMANDS
from bot.chat.commands.incident_moves import MOVE_COMMANDS
from bot.chat.commands.incident_status import STATUS_COMMANDS
from bot.chat.commands.jobs import JOB_COMMANDS
from bot.chat.commands.lookups import LOOKUP_COMMANDS, cmd_help
from bot.chat.commands.notes import NOTE_COMMANDS
from bot.chat.commands.paging import PAGING_COMMANDS
from bot.chat.commands.report import REPORT_COMMANDS
from bot.chat.commands.silences import SILENCE_COMMANDS
from bot.chat.commands.usage import USAGE
from bot.runner.ops import Ops

__all__ = ["COMMANDS", "CommandContext", "Ops", "Reply", "run_command"]

COMMANDS: dict[str, Handler] = {
    **LOOKUP_COMMANDS,
    **NOTE_COMMANDS,
    **FOLLOW_UP_COMMANDS,
    **ACTION_COMMANDS,
    **STATUS_COMMANDS,
    **PAGING_COMMANDS,
    **MOVE_COMMANDS,
    **SILENCE_COMMANDS,
    **JOB_COMMANDS,
    **REPORT_COMMANDS,
    **HOME_COMMANDS,
}


def run_command(ctx: CommandContext, text: str) -> Reply:
    """Parse and run one command line (without the leading ``/ops``)."""
    try:
        words = shlex.split(text.strip())
    except ValueError as exc:
        return reply([f"Could not parse that: {exc}.", "", *USAGE.splitlines()], ok=False)
    if words and words[0] == "/ops":
        words = words[1:]
    if not words:
        return cmd_help(ctx, [])
    name, args = words[0].lower(), words[1:]
    handler = COMMANDS.get(name)
    if handler is None:
        return reply([f"Unknown command `{name}`.", "", *USAGE.splitlines()], ok=False)
    return handler(ctx, args)
