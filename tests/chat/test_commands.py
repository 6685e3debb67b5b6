"""The /ops grammar shared by Slack and the console."""

from __future__ import annotations

import io
import os
import subprocess
import sys
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
    assert repl(engine, io.StringIO("incidents\n\nbogus\n"), out) == 0
    text = out.getvalue()
    assert "1 open incident(s)" in text
    assert "Unknown command `bogus`" in text


def test_opsbot_console_command_reads_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/console.db"
    env = {**os.environ, "OPSBOT_DATABASE_URL": url}

    def console(typed: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "console"],
            input=typed,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,
            check=True,
        )
        return done.stdout

    assert "No open incidents." in console("incidents\n")
    engine = make_engine(url)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    engine.dispose()
    second = console("incidents\nincident 1\nquit\n")
    assert "fraud-scorer" in second
    assert "Timeline:" in second
