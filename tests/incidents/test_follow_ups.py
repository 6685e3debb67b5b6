"""Follow-up notes become tracked items, once per timeline event, with the owner they name; the
queries list them open / mine / all, and the book marks one done once. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.chat.commands import CommandContext, run_command
from bot.incidents.follow_ups import (
    FollowUpBook,
    Which,
    capture,
    follow_up_text,
    listing,
    open_at,
    owner_of,
)
from bot.incidents.notes import pin_message
from bot.store.models import Incident, TimelineEvent
from bot.store.oncall_models import FollowUp, FollowUpState
from bot.store.types import utcnow
from tests.support.payloads import am_alert, am_payload
from tests.support.store import CHANNEL, ingest


def an_incident(engine: Engine, service: str = "fraud-scorer") -> int:
    """An open incident with its thread (as if the root had been posted)."""
    [incident_id] = ingest(engine, am_payload(service, [am_alert(service, 1)])).incidents_opened
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.slack_ts = f"17000000{incident_id:02d}.000100"
        session.add(incident)
        session.commit()
    return incident_id


def note(engine: Engine, incident_id: int, text: str, user: str = "U0ALICE") -> None:
    reply = run_command(CommandContext(engine=engine, user=user), f"note #{incident_id} {text}")
    assert reply.ok, reply.text


def items(engine: Engine) -> list[FollowUp]:
    with Session(engine) as session:
        return list(session.exec(select(FollowUp).order_by(col(FollowUp.id))).all())


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("follow-up: add a drift alert", "add a drift alert"),
        ("Follow up: add a drift alert", "add a drift alert"),
        ("TODO:   add a drift alert ", "add a drift alert"),
        ("action item: add a drift alert", "add a drift alert"),
        ("  Action Item : add a drift alert", "add a drift alert"),
        ("todo:", None),
        ("cause: bad feature", None),
        ("we should add a todo: later", None),
    ],
)
def test_which_notes_are_follow_ups(text: str, asked: str | None) -> None:
    assert follow_up_text(text) == asked


@pytest.mark.parametrize(
    ("text", "owner", "rest"),
    [
        ("<@U0BOB> add a drift alert", "U0BOB", "add a drift alert"),
        ("<@U0BOB|bob>: add a drift alert", "U0BOB", "add a drift alert"),
        ("@U0BOB add a drift alert", "U0BOB", "add a drift alert"),
        ("add a drift alert for <@U0BOB>", None, "add a drift alert for <@U0BOB>"),
        ("@bob add a drift alert", None, "@bob add a drift alert"),
        ("<@U0BOB>", "U0BOB", "<@U0BOB>"),
    ],
)
def test_the_owner_is_a_leading_mention(text: str, owner: str | None, rest: str) -> None:
    assert owner_of(text) == (owner, rest)


def test_a_follow_up_note_becomes_an_open_item_with_its_owner(engine: Engine) -> None:
    n = an_incident(engine)
    note(engine, n, "todo: <@U0BOB> add a drift alert")
    note(engine, n, "follow-up: review the alert rule", user="U0CAROL")
    note(engine, n, "cause: tx_amount retyped")  # not a follow-up
    first, second = items(engine)
    assert (first.incident_id, first.text, first.owner, first.state, first.created_by) == (
        n,
        "add a drift alert",
        "U0BOB",
        FollowUpState.OPEN,
        "U0ALICE",
    )
    assert (second.text, second.owner, second.created_by) == (
        "review the alert rule",
        None,
        "U0CAROL",
    )
    with Session(engine) as session:
        event = session.get(TimelineEvent, first.event_id)
        assert event is not None
        assert (event.kind, event.text) == ("note", "todo: <@U0BOB> add a drift alert")


def test_the_note_reply_names_the_item(engine: Engine) -> None:
    n = an_incident(engine)
    reply = run_command(CommandContext(engine=engine, user="U0ALICE"), f"note #{n} todo: x")
    [item] = items(engine)
    assert f"Tracked as follow-up #{item.id}" in reply.text
    plain = run_command(CommandContext(engine=engine, user="U0ALICE"), f"note #{n} looks ok")
    assert "follow-up" not in plain.text


def test_a_pinned_follow_up_message_becomes_one_item(engine: Engine) -> None:
    n = an_incident(engine)
    with Session(engine) as session:
        incident = session.get(Incident, n)
        assert incident is not None
        assert incident.slack_ts is not None
        thread = incident.slack_ts

    def pin(actor: str) -> int | None:
        return pin_message(
            engine,
            channel=CHANNEL,
            thread_ts=thread,
            message_ts="1700000100.000200",
            text="Action item: <@U0DAN> backfill the features",
            author="U0DAN",
            actor=actor,
        )

    event_id = pin("U0ALICE")
    assert pin("U0BOB") == event_id  # a second reaction: the same event
    [item] = items(engine)
    assert (item.event_id, item.owner, item.text, item.created_by) == (
        event_id,
        "U0DAN",
        "backfill the features",
        "U0ALICE",
    )


def test_the_same_event_written_twice_makes_one_item(engine: Engine) -> None:
    n = an_incident(engine)
    note(engine, n, "todo: add a drift alert")
    [item] = items(engine)
    with Session(engine) as session:
        event = session.get(TimelineEvent, item.event_id)
        assert event is not None
        again = capture(session, event)
        session.commit()
        assert again is not None
        assert again.id == item.id
    assert len(items(engine)) == 1


def test_open_mine_and_all_newest_first(engine: Engine) -> None:
    a, b = an_incident(engine, "fraud-scorer"), an_incident(engine, "ranker")
    note(engine, a, "todo: <@U0BOB> one")
    note(engine, a, "todo: <@U0ALICE> two")
    note(engine, b, "todo: <@U0BOB> three")
    one, _two, _three = items(engine)
    assert one.id is not None
    assert FollowUpBook(engine).complete(one.id, by="U0CAROL")
    with Session(engine) as session:

        def texts(which: Which, incident_id: int | None = None, limit: int = 50) -> list[str]:
            rows = listing(session, which, user="U0BOB", incident_id=incident_id, limit=limit)
            return [r.text for r in rows]

        assert texts("open") == ["three", "two"]
        assert texts("mine") == ["three"]
        assert texts("all") == ["three", "two", "one"]
        assert texts("all", incident_id=a) == ["two", "one"]
        assert texts("open", incident_id=b) == ["three"]
        assert texts("all", limit=1) == ["three"]


def test_done_once_with_a_timeline_event(engine: Engine) -> None:
    n = an_incident(engine)
    note(engine, n, "todo: add a drift alert")
    [item] = items(engine)
    assert item.id is not None
    book = FollowUpBook(engine)
    assert book.complete(item.id, by="U0BOB") is True
    assert book.complete(item.id, by="U0CAROL") is False
    [done] = items(engine)
    assert (done.state, done.done_by) == (FollowUpState.DONE, "U0BOB")
    assert done.done_at is not None
    with Session(engine) as session:
        events = session.exec(
            select(TimelineEvent).where(TimelineEvent.kind == "follow_up_done")
        ).all()
    [event] = events
    assert event.text == f"Follow-up #{item.id} done by <@U0BOB>: add a drift alert"
    assert (event.incident_id, event.actor, event.data) == (n, "U0BOB", {"follow_up_id": item.id})
    found = book.get(item.id)
    assert found is not None
    assert found.done
    assert book.get(9999) is None


def test_open_at_a_time_counts_what_was_open_then(engine: Engine) -> None:
    n = an_incident(engine)
    note(engine, n, "todo: one")
    note(engine, n, "todo: two")
    one, _two = items(engine)
    assert one.id is not None
    FollowUpBook(engine).complete(one.id, by="U0BOB")
    now = utcnow() + timedelta(seconds=1)
    with Session(engine) as session:
        total, rows = open_at(session, now, limit=10)
        assert (total, [r.text for r in rows]) == (1, ["two"])
        # Before the one was done, both were open; before either was made, none.
        total, rows = open_at(session, one.created_at + timedelta(microseconds=1), limit=10)
        assert total >= 1
        assert rows[0].text == "one"
        assert open_at(session, one.created_at - timedelta(seconds=1), limit=10)[0] == 0
