"""`/ops summary [#id]` and `opsbot incidents export <id>`: the summary on demand, stored, and
exported as Markdown."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.chat.commands import CommandContext, run_command
from bot.store.engine import make_engine
from bot.store.migrate import upgrade
from bot.store.models import OutboxKind, OutboxMessage
from bot.store.summary_models import IncidentSummary, LLMState, SummaryState
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest
from tests.test_cli import opsbot


def resolved_incident(engine: Engine) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1, status="resolved")]))


def stored(engine: Engine) -> IncidentSummary:
    with Session(engine) as s:
        return s.exec(select(IncidentSummary)).one()


def test_summary_of_an_open_incident_is_a_so_far_summary(engine: Engine) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    reply = run_command(CommandContext(engine=engine, user="U0ALICE"), "summary #1")
    assert reply.ok, reply.text
    summary = stored(engine)
    assert summary.final is False
    assert summary.state == SummaryState.READY
    assert summary.llm_state == LLMState.OFF  # no LLM here: the template is the summary
    assert reply.text.startswith(summary.markdown)
    assert "Incident #1" in summary.markdown
    assert reply.blocks == summary.slack_blocks


def test_summary_after_resolve_is_the_final_one_and_goes_to_the_thread(engine: Engine) -> None:
    resolved_incident(engine)
    reply = run_command(CommandContext(engine=engine, user="U0ALICE"), "summary 1")
    assert reply.ok, reply.text
    summary = stored(engine)
    assert summary.final is True
    assert summary.requested_by == "U0ALICE"
    with Session(engine) as s:
        kinds = s.exec(
            select(OutboxMessage.kind)
            .where(
                col(OutboxMessage.kind).in_([OutboxKind.SUMMARY_POST, OutboxKind.SUMMARY_UPDATE])
            )
            .order_by(col(OutboxMessage.id))
        ).all()
    assert kinds == [OutboxKind.SUMMARY_POST]


def test_summary_needs_a_known_incident(engine: Engine) -> None:
    reply = run_command(CommandContext(engine=engine, user="U0ALICE"), "summary #7")
    assert not reply.ok
    assert "No incident #7" in reply.text
    reply = run_command(CommandContext(engine=engine, user="U0ALICE"), "summary")
    assert not reply.ok
    assert "Say which incident" in reply.text


def test_export_prints_the_stored_summary_as_markdown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/opsbot.db"
    upgrade(url)
    engine = make_engine(url)
    resolved_incident(engine)
    run_command(CommandContext(engine=engine, user="U0ALICE"), "summary 1")
    markdown = stored(engine).markdown
    engine.dispose()

    result = opsbot("incidents", "export", "1", env={"OPSBOT_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout == markdown + ("" if markdown.endswith("\n") else "\n")

    out = tmp_path / "incident-1.md"
    result = opsbot("incidents", "export", "1", "--out", str(out), env={"OPSBOT_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert out.read_text() == result_text(markdown)

    missing = opsbot("incidents", "export", "9", env={"OPSBOT_DATABASE_URL": url})
    assert missing.returncode == 1
    assert "no incident #9" in missing.stderr


def result_text(markdown: str) -> str:
    return markdown if markdown.endswith("\n") else markdown + "\n"


def test_export_without_a_stored_summary_writes_the_template(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/opsbot.db"
    upgrade(url)
    engine = make_engine(url)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    engine.dispose()
    result = opsbot("incidents", "export", "1", env={"OPSBOT_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Incident #1")
