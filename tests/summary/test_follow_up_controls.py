"""The summary's follow-up controls: a Done button per open tracked item right after the
Follow-ups part, a ✓ line of the done ones, valid Block Kit within Slack's limits however many
there are, and swapped in place when an item changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.incidents.follow_ups import capture
from bot.store.models import TimelineEvent
from bot.store.oncall_models import FollowUp, FollowUpState
from bot.summary.build import template_summary
from bot.summary.doc import Document, Section, data, line
from bot.summary.model import Tracked
from bot.summary.slack import (
    FOLLOW_UP_DONE_ACTION,
    FOLLOW_UPS_DONE,
    FOLLOW_UPS_OPEN,
    follow_up_controls,
    render,
    with_follow_up_controls,
)
from tests.fakes.slack.blocks import validate_blocks
from tests.summary.conftest import CATALOG, START, Story, at, write_fraud_incident


def track_notes(session: Session, story: Story) -> list[FollowUp]:
    """Items for the story's follow-up notes, as if they had been written through opsbot."""
    notes = session.exec(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == story.id, TimelineEvent.kind == "note")
        .order_by(col(TimelineEvent.id))
    ).all()
    made = [capture(session, event) for event in notes]
    session.commit()
    return [item for item in made if item is not None]


def control(blocks: list[dict[str, Any]], block_id: str) -> dict[str, Any] | None:
    return next((b for b in blocks if b.get("block_id") == block_id), None)


def test_each_open_item_has_a_done_button_after_the_follow_ups(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        first, second = track_notes(session, story)
        draft = template_summary(session, story.id, CATALOG, now=at(4, 0))
    blocks = draft.slack_blocks
    assert validate_blocks(blocks) == []
    buttons = control(blocks, FOLLOW_UPS_OPEN)
    assert buttons is not None
    assert blocks[blocks.index(buttons) - 1]["text"]["text"].startswith("*Follow-ups*")
    assert [(e["action_id"], e["value"]) for e in buttons["elements"]] == [
        (f"{FOLLOW_UP_DONE_ACTION}_0", str(first.id)),
        (f"{FOLLOW_UP_DONE_ACTION}_1", str(second.id)),
    ]
    labels = [e["text"]["text"] for e in buttons["elements"]]
    assert labels[0] == f"Done #{first.id}: add a schema check to the training pipeline"
    # The markup note: plain text, cut to a button's 75 characters, the broadcast defused.
    assert labels[1].startswith(f"Done #{second.id}: # page the model owner on schema changes")
    assert len(labels[1]) == 75
    assert control(blocks, FOLLOW_UPS_DONE) is None
    # The Markdown and the rest of the summary are as before.
    assert "Done #" not in draft.markdown


def test_done_items_show_a_tick_and_who(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        first, second = track_notes(session, story)
        first.state, first.done_by, first.done_at = FollowUpState.DONE, "U0BOB", at(4, 0)
        session.add(first)
        session.commit()
        blocks = template_summary(session, story.id, CATALOG, now=at(4, 0)).slack_blocks
    assert validate_blocks(blocks) == []
    buttons = control(blocks, FOLLOW_UPS_OPEN)
    assert buttons is not None
    assert [e["value"] for e in buttons["elements"]] == [str(second.id)]
    done = control(blocks, FOLLOW_UPS_DONE)
    assert done is not None
    assert done["type"] == "context"
    assert done["elements"][0]["text"] == (
        f"✓ #{first.id} add a schema check to the training pipeline — done by <@U0BOB>"
    )


def test_many_items_and_a_long_timeline_stay_within_slacks_limits(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session, until=START)
        for i in range(30):
            story.event(at(3, 5) + timedelta(seconds=i), "note", f"todo: item {i}", "U0ALICE")
        for i in range(200):
            story.event(at(3, 6) + timedelta(seconds=i), "note", f"note {i} " + "x" * 200)
        session.commit()
        made = track_notes(session, story)
        assert len(made) == 30
        blocks = template_summary(session, story.id, CATALOG, now=at(3, 30)).slack_blocks
    assert validate_blocks(blocks) == []
    buttons = control(blocks, FOLLOW_UPS_OPEN)
    assert buttons is not None
    assert len(buttons["elements"]) == 25
    more = control(blocks, FOLLOW_UPS_DONE)
    assert more is not None
    assert more["elements"][0]["text"] == "…and 5 more open: `/ops followup done <number>`"

    # Every item done but the last: no more room is needed than was kept.
    items = [
        Tracked(t.id, t.text, t.owner, "U0ALICE" if i < 29 else None, i < 29)
        for i, t in enumerate(Tracked.of(row) for row in made)
    ]
    swapped = with_follow_up_controls(blocks, follow_up_controls(items, {"U0ALICE"}))
    assert swapped is not None
    assert validate_blocks(swapped) == []
    assert len(swapped) <= 50
    redrawn = control(swapped, FOLLOW_UPS_OPEN)
    assert redrawn is not None
    assert [e["value"] for e in redrawn["elements"]] == [str(made[-1].id)]


def test_room_for_both_controls_is_kept_when_the_summary_is_full() -> None:
    long = [line(data("x" * 290)) for _ in range(25)]
    parts = [Section(f"part{i}", f"Part {i}", tuple(long)) for i in range(14)]
    follow_ups = Section("follow_ups", "Follow-ups", (line(data("todo: one")),))
    timeline = Section("timeline", "Timeline", tuple(long + long))
    doc = Document(1, "title", (line("open"),), (*parts, follow_ups, timeline), "footer")
    assert len(render(doc, ())[1]) == 50  # the timeline is cut to what fits
    _, blocks = render(doc, (), [Tracked(1, "one", None)])
    assert len(blocks) == 49  # one control now, room kept for the second
    assert validate_blocks(blocks) == []
    done = follow_up_controls([Tracked(1, "one", None), Tracked(2, "two", "U0A", "U0A", True)], ())
    swapped = with_follow_up_controls(blocks, done)
    assert swapped is not None
    assert len(swapped) == 50
    assert validate_blocks(swapped) == []


def test_a_summary_drawn_without_items_is_not_swapped(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        blocks = template_summary(session, story.id, CATALOG, now=at(4, 0)).slack_blocks
    assert control(blocks, FOLLOW_UPS_OPEN) is None
    controls = follow_up_controls([Tracked(1, "x", None)], ())
    assert with_follow_up_controls(blocks, controls) is None
