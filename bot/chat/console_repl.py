"""``opsbot console``: the ``/ops`` commands at a terminal prompt, against the same database.

At a terminal the prompt has line editing and a history kept in ``~/.opsbot_history``. Fed
from a pipe or a file, it exits 1 when any command failed, so a script can tell.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Engine

from bot.audit.log import origin
from bot.catalog.model import Catalog
from bot.chat.commands import CommandContext, run_command
from bot.chat.console_identity import ConsoleIdentity

if TYPE_CHECKING:
    from bot.reports.drift_coverage import RuleSource
    from bot.runner.ops import Ops


PROMPT = "ops> "
HISTORY = Path.home() / ".opsbot_history"
HISTORY_LINES = 1000
BANNER = "opsbot console — type `help` for commands, `quit` to leave."


def repl(
    engine: Engine,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    *,
    catalog: Catalog | None = None,
    ops: Ops | None = None,
    identity: ConsoleIdentity | None = None,
    change_window_min: int = 360,
    prometheus: RuleSource | None = None,
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
        prometheus=prometheus,
    )
    stdout.write(BANNER + "\n")
    stdout.write(_whom(identity) + "\n")
    read = _terminal_reader() if interactive and stdin is sys.stdin else _line_reader(stdin)
    failed = False
    while True:
        if interactive and stdin is not sys.stdin:
            stdout.write(PROMPT)
            stdout.flush()
        line = read()
        if line is None or line.strip() in ("quit", "exit"):
            return 1 if failed and not interactive else 0
        line = line.strip()
        if not line:
            continue
        with origin(**identity.origin()):
            reply = run_command(ctx, line)
            stdout.write(reply.text + "\n")
            stdout.flush()
            failed = failed or not reply.ok
            if reply.then is not None:
                reply.then()


def _line_reader(stdin: TextIO) -> Callable[[], str | None]:
    def read() -> str | None:
        return stdin.readline() or None

    return read


def _terminal_reader() -> Callable[[], str | None]:
    """``input()`` with readline: arrows, editing, and the history of earlier sessions."""
    import atexit
    import contextlib
    import readline

    with contextlib.suppress(OSError):
        readline.read_history_file(HISTORY)
    readline.set_history_length(HISTORY_LINES)

    def save() -> None:
        with contextlib.suppress(OSError):
            readline.write_history_file(HISTORY)

    atexit.register(save)

    def read() -> str | None:
        try:
            return input(PROMPT)
        except EOFError:
            return None

    return read


def _whom(identity: ConsoleIdentity) -> str:
    if identity.mapped:
        return f"Acting as {identity.acts_as} (OS user {identity.os_user}, policy.console_users)."
    return (
        f"Acting as {identity.acts_as}: read-only, since policy.console_users maps OS user "
        f"{identity.os_user} to no single Slack user (pick one with --as)."
    )
