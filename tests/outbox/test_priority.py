"""Interactive messages first: what a person waits for goes before everything informational in its
channel, through the real outbox (queue → sender → slack_sdk → the Slack emulator), without
breaking Slack's pace, the thread's order or the merging of replies."""

from __future__ import annotations

import json

from sqlmodel import Session

from bot.outbox.queue import INTERACTIVE, enqueue_reply, enqueue_root_update, enqueue_summary
from bot.render.blocks import note_reply
from bot.store.models import Incident, OutboxKind
from bot.store.summary_models import IncidentSummary
from bot.store.tx import run_tx
from tests.fakes.slack.api import SlackEmulator
from tests.outbox.conftest import CHANNEL, Outbox
from tests.support.payloads import am_alert, am_payload
from tests.support.store import incidents, ingest


def say(ob: Outbox, incident_id: int, text: str, *, interactive: bool = False) -> None:
    """A reply in the incident's thread, queued as the domain queues it."""

    def work(session: Session) -> None:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        if interactive:
            enqueue_reply(session, incident, *note_reply(text), priority=INTERACTIVE)
        else:
            enqueue_reply(session, incident, *note_reply(text))

    run_tx(ob.engine, work)


def texts(message: dict) -> str:  # type: ignore[type-arg]
    return " ".join(b["text"]["text"] for b in message["blocks"] if "text" in b)


async def test_an_interactive_reply_goes_before_the_informational_messages_queued_before_it(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await outbox.sender.drain()
    [incident] = incidents(outbox.engine)
    assert incident.id is not None
    # The channel fills with what the bot says on its own: other incidents' roots and alert
    # lists, and updates in this thread...
    for n in range(4):
        ingest(outbox.engine, am_payload(f"svc-{n}", [am_alert(f"svc-{n}", n)]))
    say(outbox, incident.id, "informational one")
    say(outbox, incident.id, "informational two")
    # ... then a person's click queues its answer, and the bot says one more thing.
    say(outbox, incident.id, "Approval needed: roll back", interactive=True)
    say(outbox, incident.id, "informational three")
    posted_before = len(slack.messages(CHANNEL))

    sent = await outbox.sender.drain_once()

    assert sent == 1
    first = slack.messages(CHANNEL)[posted_before]
    assert first["thread_ts"] == incident.slack_ts
    assert texts(first) == "Approval needed: roll back"  # alone: it carries no informational reply
    await outbox.sender.drain()
    thread = [texts(m) for m in slack.replies(CHANNEL, incident.slack_ts or "")]
    # The informational replies keep their order, the one queued after the click included.
    assert thread[1:] == [
        "Approval needed: roll back",
        "informational one informational two informational three",
    ]
    assert len(slack.roots(CHANNEL)) == 5


async def test_informational_messages_leave_a_token_for_the_next_interactive_one(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    # Slack's pace (0.2/s here, so no token comes back while the test runs), enforced by the
    # emulator too: a post over it would be refused with a 429.
    slack.channel_rate, slack.channel_burst = 0.2, 3
    sender = outbox.new_sender(channel_rate=0.2, channel_burst=3)
    for n in range(4):
        ingest(outbox.engine, am_payload(f"svc-{n}", [am_alert(f"svc-{n}", n)]))
    while await sender.drain_once():  # informational posts, until the pace stops them
        pass
    informational = len(slack.messages(CHANNEL))
    assert informational == 2  # a burst of 3, less the one kept
    first = incidents(outbox.engine)[0]
    assert first.id is not None

    say(outbox, first.id, "You asked: here is the answer", interactive=True)

    assert await sender.drain_once() == 1  # at once: the token was kept for it
    answer = slack.messages(CHANNEL)[-1]
    assert texts(answer) == "You asked: here is the answer"
    assert await sender.drain_once() == 0  # and now nothing goes until the pace allows
    assert slack.rate_violations() == []
    assert all(c["status"] != 429 for c in slack.calls("chat.postMessage"))


async def test_an_interactive_root_edit_waiting_for_its_post_does_not_hold_the_post_up(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    [incident] = incidents(outbox.engine)

    def offer(session: Session) -> None:
        row = session.get(Incident, incident.id)
        assert row is not None
        row.playbooks = ["rollback-model-deploy"]
        session.add(row)
        enqueue_root_update(session, row, priority=INTERACTIVE)

    run_tx(outbox.engine, offer)
    say(outbox, incident.id or 0, "answer before the root exists", interactive=True)

    await outbox.sender.drain()

    [root] = slack.roots(CHANNEL)
    assert root["edits"] == 0  # the edit rode on the post, which shows the offer
    assert "opsbot_playbooks" in json.dumps(root["blocks"])
    replies = [texts(m) for m in slack.replies(CHANNEL, root["ts"])]
    assert replies[0] == "answer before the root exists"


async def test_an_interactive_edit_waiting_for_its_post_lets_the_informational_post_go(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await outbox.sender.drain()
    [incident] = incidents(outbox.engine)

    def summary_then_a_click(session: Session) -> None:
        row = session.get(Incident, incident.id)
        assert row is not None
        assert row.id is not None
        text, blocks = note_reply("Summary: what happened")
        session.add(IncidentSummary(incident_id=row.id, slack_text=text, slack_blocks=blocks))
        enqueue_summary(session, row, OutboxKind.SUMMARY_POST)  # the bot's own
        enqueue_summary(session, row, OutboxKind.SUMMARY_UPDATE, priority=INTERACTIVE)  # a click

    run_tx(outbox.engine, summary_then_a_click)

    await outbox.sender.drain(deadline_s=10)

    summaries = [
        m
        for m in slack.replies(CHANNEL, incident.slack_ts or "")
        if texts(m) == "Summary: what happened"
    ]
    assert len(summaries) == 1  # posted once; the edit rode on the post
