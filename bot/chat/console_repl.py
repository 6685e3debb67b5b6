"""``opsbot console``: the ``/ops`` commands at a terminal prompt, against the same database."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from sqlalchemy import Engine

from bot.catalog.model import Catalog
from bot.chat.commands import CommandContext, run_command

PROMPT = "ops> "
BANNER = "opsbot console — type `help` for commands, `quit` to leave."


def repl(
    engine: Engine,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    *,
    catalog: Catalog | None = None,
    ops: Any = None,
    user: str = "console",
    change_window_min: int = 360,
) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    ctx = CommandContext(
        engine=engine,
        user=user,
        catalog=catalog or Catalog(),
        ops=ops,
        change_window_min=change_window_min,
    )
    stdout.write(BANNER + "\n")
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
        reply = run_command(ctx, line)
        stdout.write(reply.text + "\n")
        stdout.flush()
        if reply.then is not None:
            reply.then()
