"""``opsbot console``: the ``/ops`` commands at a terminal prompt, against the same database."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from sqlalchemy import Engine

from bot.audit.log import origin
from bot.catalog.model import Catalog
from bot.chat.commands import CommandContext, run_command
from bot.chat.console_identity import ConsoleIdentity

PROMPT = "ops> "
BANNER = "opsbot console — type `help` for commands, `quit` to leave."


def repl(
    engine: Engine,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    *,
    catalog: Catalog | None = None,
    ops: Any = None,
    identity: ConsoleIdentity | None = None,
    change_window_min: int = 360,
) -> int:
    """Commands from ``stdin`` until EOF or ``quit``, as ``identity`` (default: an OS user no
    rule names, so only reading works); the audit log records who typed each one."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    identity = identity or ConsoleIdentity("nobody", "console:nobody")
    ctx = CommandContext(
        engine=engine,
        user=identity.acts_as,
        catalog=catalog or Catalog(),
        ops=ops,
        change_window_min=change_window_min,
    )
    stdout.write(BANNER + "\n")
    stdout.write(_whom(identity) + "\n")
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        line = line.strip()
        if line in ("quit", "exit"):
            return 0
        if not line:
            continue
        with origin(**identity.origin()):
            reply = run_command(ctx, line)
            stdout.write(reply.text + "\n")
            stdout.flush()
            if reply.then is not None:
                reply.then()


def _whom(identity: ConsoleIdentity) -> str:
    if identity.mapped:
        return f"Acting as {identity.acts_as} (OS user {identity.os_user}, policy.console_users)."
    return (
        f"Acting as {identity.acts_as}: read-only, since policy.console_users maps OS user "
        f"{identity.os_user} to no single Slack user (pick one with --as)."
    )
