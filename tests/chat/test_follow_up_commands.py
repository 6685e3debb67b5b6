"""``/ops followups`` and ``/ops followup done`` at the console: the lists, and marking one done
through the action path (policy, audit, dry run, once), with the summary's controls redrawn.
SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.load import parse_catalog
from bot.catalog.model import Catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.store.models import AuditEntry, OutboxKind, OutboxMessage, TimelineEvent
from bot.store.oncall_models import FollowUp, FollowUpState
from bot.store.run_models import RunStatus
from bot.store.summary_models import IncidentSummary
from bot.summary.slack import FOLLOW_UPS_DONE, FOLLOW_UPS_OPEN
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

OPEN = parse_catalog("services:\n  fraud-scorer: {namespace: ml-serving}\n")
# A rule that names the action restricts it to the people it names.
RESTRICTED = parse_catalog("""
services:
  fraud-scorer: {namespace: ml-serving}
policy:
  rules:
    - actions: [complete_follow_up]
      run: [U0LEAD]
      approval: none
""")


def console(engine: Engine, user: str = "U0ALICE", catalog: Catalog = OPEN) -> CommandContext:
    executor = Executor(engine, catalog, Clients())
    return CommandContext(engine=engine, user=user, catalog=catalog, ops=Ops(executor))


def an_incident(engine: Engine, service: str = "fraud-scorer") -> int:
    [n] = ingest(engine, am_payload(service, [am_alert(service, 1)])).incidents_opened
    return n


def ok(ctx: CommandContext, line: str) -> str:
    reply = run_command(ctx, line)
    assert reply.ok, reply.text
    return reply.text


def items(engine: Engine) -> list[FollowUp]:
    with Session(engine) as session:
        return list(session.exec(select(FollowUp).order_by(col(FollowUp.id))).all())


def done_events(engine: Engine) -> list[TimelineEvent]:
    with Session(engine) as session:
        rows = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "follow_up_done"))
        return list(rows.all())


def three_items(engine: Engine) -> tuple[int, int]:
    """#1 (owner Bob) and #2 (owner Alice) on incident a, #3 (nobody) on incident b."""
    a, b = an_incident(engine), an_incident(engine, "ranker")
    alice = console(engine)
    ok(alice, f"note #{a} todo: <@U0BOB> add a drift alert")
    ok(alice, f"note #{a} follow-up: <@U0ALICE> page the model owner on schema changes")
    ok(alice, f"note #{b} action item: retire the ranker v1 endpoint")
    return a, b


def test_followups_lists_open_mine_and_all(engine: Engine) -> None:
    a, b = three_items(engine)
    bob = console(engine, "U0BOB")
    listed = ok(bob, "followups").splitlines()
    assert listed[0] == "Open follow-ups of every incident, newest first:"
    assert [line.split(" · ")[0] for line in listed[1:4]] == ["#3", "#2", "#1"]
    assert listed[3].startswith("#1 · incident #1 · owner @U0BOB · open ")
    assert listed[3].endswith(" — add a drift alert")
    assert "no owner" in listed[1]

    mine = ok(bob, "followups mine").splitlines()
    assert [line.split(" · ")[0] for line in mine[1:-1]] == ["#1"]
    assert ok(bob, f"followups #{b}").count("· incident #") == 1

    ok(console(engine, "U0CAROL"), "followup done 1")
    assert not any(line.startswith("#1 ") for line in ok(bob, "followups").splitlines())
    assert ok(bob, "followups mine") == "Your open follow-ups of every incident: none."
    every = ok(bob, f"followups all #{a}").splitlines()
    assert every[0] == f"Follow-ups of incident #{a}, newest first:"
    assert every[2].startswith("#1 · incident #1 · owner @U0BOB · done by @U0CAROL ")

    reply = run_command(bob, "followups closed")
    assert not reply.ok
    assert "Usage: /ops followups [open|mine|all] [#incident]" in reply.text


def test_the_list_in_slack_mentions_people_and_keeps_the_text_inert(engine: Engine) -> None:
    n = an_incident(engine)
    ok(console(engine), f"note #{n} todo: <@U0BOB> tell <!channel> about it")
    reply = run_command(console(engine, "U0BOB"), "followups")
    [block] = reply.blocks
    text = block["text"]["text"]
    assert "owner <@U0BOB>" in text
    assert "<!channel>" not in text


def test_done_goes_through_the_action_path_once(engine: Engine) -> None:
    three_items(engine)
    answer = ok(console(engine, "U0CAROL"), "followup done 1")
    assert answer == "Done: Follow-up #1 done: add a drift alert"
    [first, second, _] = items(engine)
    assert (first.state, first.done_by) == (FollowUpState.DONE, "U0CAROL")
    assert second.state == FollowUpState.OPEN
    [event] = done_events(engine)
    assert event.text == "Follow-up #1 done by <@U0CAROL>: add a drift alert"
    again = ok(console(engine, "U0BOB"), "followup done #1")
    assert again == "Done: Nothing to do: Follow-up #1 is already done by <@U0CAROL>"
    assert len(done_events(engine)) == 1
    with Session(engine) as session:
        audit = session.exec(
            select(AuditEntry.event, AuditEntry.actor)
            .where(AuditEntry.action == "complete_follow_up")
            .order_by(col(AuditEntry.id))
        ).all()
    assert ("requested", "U0CAROL") in audit
    assert (RunStatus.SUCCEEDED, "U0CAROL") in audit


def test_a_dry_run_and_bad_requests_change_nothing(engine: Engine) -> None:
    three_items(engine)
    ctx = console(engine)
    dry = ok(ctx, "followup done 2 --dry-run")
    assert dry == "Dry run, nothing changed. Would: Mark follow-up #2 done"
    unknown = run_command(ctx, "followup done 99")
    assert not unknown.ok
    assert "there is no follow-up #99" in unknown.text
    for line in ("followup done", "followup 2", "followup done two", "followup undo 2"):
        usage = run_command(ctx, line)
        assert not usage.ok
        assert "Usage: /ops followup done <number>" in usage.text
    assert not run_command(ctx, "followup done 0").ok
    assert all(item.state == FollowUpState.OPEN for item in items(engine))
    assert done_events(engine) == []


def test_a_policy_rule_that_names_it_restricts_it(engine: Engine) -> None:
    three_items(engine)
    refused = run_command(console(engine, "U0MALLORY", RESTRICTED), "followup done 1")
    assert not refused.ok
    assert "U0MALLORY may not run complete_follow_up" in refused.text
    ok(console(engine, "U0LEAD", RESTRICTED), "followup done 1")
    assert items(engine)[0].done_by == "U0LEAD"


def test_two_at_once_write_one_done_event(engine: Engine) -> None:
    three_items(engine)
    answers: list[str] = []
    start = threading.Barrier(2)

    def click(user: str) -> None:
        ctx = console(engine, user)
        start.wait()
        answers.append(run_command(ctx, "followup done 3").text)

    threads = [threading.Thread(target=click, args=(u,)) for u in ("U0ALICE", "U0BOB")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done_events(engine)) == 1
    assert sum("Follow-up #3 done:" in a for a in answers) == 1, answers
    assert items(engine)[2].state == FollowUpState.DONE


def test_done_redraws_the_summarys_controls(engine: Engine) -> None:
    n = an_incident(engine)
    alice = console(engine)
    ok(alice, f"note #{n} todo: <@U0BOB> add a drift alert")
    ok(alice, f"note #{n} todo: page the model owner")
    summary = run_command(alice, f"summary #{n}")
    [buttons] = [b for b in summary.blocks if b.get("block_id") == FOLLOW_UPS_OPEN]
    assert [e["value"] for e in buttons["elements"]] == ["1", "2"]
    with Session(engine) as session:
        row = session.exec(select(IncidentSummary)).one()
        row.message_ts = "1700000000.000900"  # as if the summary had been posted
        session.add(row)
        session.commit()

    ok(console(engine, "U0BOB"), "followup done 1")
    with Session(engine) as session:
        blocks = session.exec(select(IncidentSummary)).one().slack_blocks
        kinds = session.exec(
            select(OutboxMessage.kind).where(OutboxMessage.kind == OutboxKind.SUMMARY_UPDATE)
        ).all()
    [buttons] = [b for b in blocks if b.get("block_id") == FOLLOW_UPS_OPEN]
    assert [e["value"] for e in buttons["elements"]] == ["2"]
    [done] = [b for b in blocks if b.get("block_id") == FOLLOW_UPS_DONE]
    assert done["elements"][0]["text"] == "✓ #1 add a drift alert — done by <@U0BOB>"
    assert kinds == [OutboxKind.SUMMARY_UPDATE]
    # The summary asked for again draws the same controls from the facts.
    again = run_command(alice, f"summary #{n}")
    assert [b for b in again.blocks if b.get("block_id") in (FOLLOW_UPS_OPEN, FOLLOW_UPS_DONE)] == [
        buttons,
        done,
    ]
