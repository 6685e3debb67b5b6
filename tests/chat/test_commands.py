"""The /ops grammar shared by Slack and the console."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from bot.chat.commands import CommandContext, run_command
from bot.chat.console_repl import repl
from bot.store.engine import make_engine
from tests.support.payloads import am_alert, am_payload
from tests.support.server import ROOT
from tests.support.store import incidents, ingest


def test_help_lists_every_command(sqlite_url: str) -> None:
    reply = run_command(CommandContext(engine=make_engine(sqlite_url)), "help")
    for name in ("help", "incidents", "incident <id>"):
        assert name in reply.text
    assert reply.blocks[0]["type"] == "section"


def test_unknown_subcommand_answers_with_usage(sqlite_url: str) -> None:
    reply = run_command(CommandContext(engine=make_engine(sqlite_url)), "reboot everything")
    assert not reply.ok
    assert "Unknown command `reboot`" in reply.text
    assert "Usage: /ops" in reply.text


def test_incidents_lists_open_ones_newest_first(engine: Engine) -> None:
    ingest(engine, am_payload("svc-a", [am_alert("svc-a", 1)]))
    ingest(engine, am_payload("svc-b", [am_alert("svc-b", 1)]))
    ingest(engine, am_payload("svc-b", [am_alert("svc-b", 1, status="resolved")]))
    ctx = CommandContext(engine=engine)
    open_reply = run_command(ctx, "incidents")
    assert "1 open incident(s)" in open_reply.text
    assert "svc-a" in open_reply.text
    assert "svc-b" not in open_reply.text
    all_lines = run_command(ctx, "incidents all").text.splitlines()
    assert "svc-b" in all_lines[1]
    assert "svc-a" in all_lines[2]


def test_incident_shows_its_timeline(engine: Engine) -> None:
    ingest(engine, am_payload("svc", [am_alert("svc", 1)]))
    [incident] = incidents(engine)
    reply = run_command(CommandContext(engine=engine), f"incident {incident.id}")
    assert f"#{incident.id} [firing]" in reply.text
    assert "incident_opened" in reply.text
    assert "alert_firing" in reply.text


def test_incident_argument_errors_say_what_to_type(sqlite_url: str) -> None:
    ctx = CommandContext(engine=make_engine(sqlite_url))
    assert "Usage: /ops incident <id>" in run_command(ctx, "incident").text
    assert "Usage: /ops incident <id>" in run_command(ctx, "incident abc").text
    assert "No incident #999" in run_command(ctx, "incident 999").text
    assert "Could not parse" in run_command(ctx, 'incident "unterminated').text


def test_mrkdwn_in_titles_is_escaped_in_blocks(engine: Engine) -> None:
    payload = am_payload("svc", [am_alert("svc", 1)])
    payload["commonAnnotations"]["summary"] = "<!channel> boom"
    ingest(engine, payload)
    reply = run_command(CommandContext(engine=engine), "incidents")
    assert "&lt;!channel&gt;" in reply.blocks[0]["text"]["text"]


def test_repl_runs_commands_until_eof(engine: Engine) -> None:
    ingest(engine, am_payload("svc", [am_alert("svc", 1)]))
    out = io.StringIO()
    # Fed from a pipe, the unknown command makes the exit status 1 (after running the rest).
    assert repl(engine, io.StringIO("incidents\n\nbogus\n"), out) == 1
    text = out.getvalue()
    assert "1 open incident(s)" in text
    assert "Unknown command `bogus`" in text


def run_console(env: dict[str, str], typed: str) -> subprocess.CompletedProcess[str]:
    """``opsbot console`` fed ``typed`` through a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input=typed,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_opsbot_console_command_reads_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/console.db"
    env = {**os.environ, "OPSBOT_DATABASE_URL": url}

    def console(typed: str) -> str:
        done = run_console(env, typed)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "No open incidents." in console("incidents\n")
    engine = make_engine(url)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    engine.dispose()
    second = console("incidents\nincident 1\nquit\n")
    assert "fraud-scorer" in second
    assert "Timeline:" in second


def test_piped_console_exits_1_after_a_failed_command(tmp_path: Path) -> None:
    env = {**os.environ, "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/console.db"}

    def console(typed: str) -> int:
        return run_console(env, typed).returncode

    assert console("incidents\nhelp\n") == 0
    assert console("incident 999\nincidents\n") == 1
    assert console("incident 999\nquit\n") == 1


def test_the_console_at_a_terminal_edits_lines_and_keeps_history(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/console.db",
        "HOME": str(tmp_path),
        "TERM": "xterm",
    }
    leader, follower = os.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env=env,
    ) as proc:
        os.close(follower)
        seen = b""

        def until(needle: bytes, count: int) -> None:
            nonlocal seen
            deadline = time.monotonic() + 60
            while seen.count(needle) < count:
                assert time.monotonic() < deadline, seen.decode(errors="replace")
                ready, _, _ = select.select([leader], [], [], 0.5)
                if ready:
                    seen += os.read(leader, 4096)

        try:
            until(b"ops> ", 1)
            os.write(leader, b"incidnts\x1b[D\x1b[D\x1b[De\n")  # a typo fixed with the arrows
            until(b"No open incidents.", 1)
            until(b"ops> ", 2)
            os.write(leader, b"\x1b[A\n")  # up arrow: the last command again
            until(b"No open incidents.", 2)
            os.write(leader, b"quit\n")
            assert proc.wait(30) == 0
        finally:
            proc.kill()
            os.close(leader)
    history = (tmp_path / ".opsbot_history").read_text().splitlines()
    assert history == ["incidents", "quit"]  # the edited line (recalled: not twice), quit
