"""Alert storms through the real outbox (queue → sender → slack_sdk → the Slack emulator, which
refuses posts over the channel's pace with a 429): one message names every waiting incident
at once, is edited as more arrive and as their threads open, and every root still goes once and
in order. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.outbox.sender import OutboxSender
from bot.outbox.storm import StormPolicy
from bot.render.storm import STORM_BLOCK
from bot.store.models import OutboxKind
from bot.store.storm_models import Storm, StormEntry, StormStatus
from tests.fakes.slack.api import SlackEmulator
from tests.outbox.conftest import CHANNEL
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest, outbox

# Slack's pace and the bot's storm settings, 10 times faster than in production (1/s, a 1 s
# horizon, one edit a second) so that a storm drains in seconds.
RATE, BURST = 10.0, 3
POLICY = StormPolicy(horizon_s=0.1, edit_interval_s=0.1)
NUMBER = re.compile(r"(?:^• |^• <[^|>]+\|)#(\d+)[>\s]", re.MULTILINE)
LINK = re.compile(r"<(https://[^|>]+)\|#(\d+)>")


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,), channel_rate=RATE, channel_burst=BURST) as emulator:
        yield emulator


@pytest.fixture
def transport(slack: SlackEmulator) -> SlackWebTransport:
    return SlackWebTransport(make_web_client(slack.bot_token, slack.api_url, 2))


def sender_on(
    engine: Engine, transport: SlackWebTransport, policy: StormPolicy = POLICY
) -> OutboxSender:
    """A sender as a (new) outbox leader gets one: on the shared database."""
    return OutboxSender(engine, transport, channel_rate=RATE, channel_burst=BURST, storms=policy)


def open_incidents(engine: Engine, services: range) -> None:
    for n in services:
        ingest(engine, am_payload(f"svc-{n:02d}", [am_alert(f"svc-{n:02d}", n)]))


def storm_messages(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [m for m in slack.roots(CHANNEL) if is_storm(m)]


def roots(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [m for m in slack.roots(CHANNEL) if not is_storm(m)]


def is_storm(message: dict[str, Any]) -> bool:
    return bool(message["blocks"]) and message["blocks"][0].get("block_id") == STORM_BLOCK


def listed(message: dict[str, Any]) -> list[int]:
    """The incident numbers a storm message names, in its order."""
    lines = "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    return [int(n) for n in NUMBER.findall(lines)]


def context(message: dict[str, Any]) -> str:
    return str(message["blocks"][-1]["elements"][0]["text"])


def storm_rows(engine: Engine) -> tuple[list[Storm], list[StormEntry]]:
    with Session(engine) as s:
        return list(s.exec(select(Storm)).all()), list(s.exec(select(StormEntry)).all())


async def settle(sender: OutboxSender, engine: Engine, deadline_s: float = 30.0) -> None:
    """Send until nothing waits and every storm is over (its last edit sent)."""
    deadline = time.monotonic() + deadline_s
    while True:
        await sender.drain(deadline_s=max(0.1, deadline - time.monotonic()))
        storms, _ = storm_rows(engine)
        if all(s.status != StormStatus.OPEN for s in storms):
            await sender.drain(deadline_s=max(0.1, deadline - time.monotonic()))
            return
        if time.monotonic() > deadline:
            raise TimeoutError("storm not over")
        await asyncio.sleep(0.02)


def assert_roots_once_in_order(slack: SlackEmulator, count: int) -> None:
    numbers = [int(m["text"].split("#")[1].split()[0]) for m in roots(slack)]
    assert numbers == list(range(1, count + 1))


async def test_a_storm_is_named_in_one_message_first_then_threads_open_in_order(
    engine: Engine, slack: SlackEmulator, transport: SlackWebTransport
) -> None:
    sender = sender_on(engine, transport)
    open_incidents(engine, range(1, 13))

    assert await sender.drain_once() == 1

    [first] = slack.messages(CHANNEL)
    assert is_storm(first)  # the first pass names all twelve, before any root
    assert listed(first) == list(range(1, 13))
    assert "0 of 12 threads open" in context(first)

    open_incidents(engine, range(13, 17))  # the storm goes on while threads open
    await settle(sender, engine)

    [storm] = storm_messages(slack)
    assert storm["ts"] == first["ts"]
    assert listed(storm) == list(range(1, 17))  # each listed once, in order
    assert "All 16 threads are open." in context(storm)
    assert storm["edits"] >= 2  # the four newcomers, the threads, the end
    assert_roots_once_in_order(slack, 16)
    # Each line links to its thread, as chat.getPermalink would.
    by_number = {int(m["text"].split("#")[1].split()[0]): m["ts"] for m in roots(slack)}
    links = {
        int(n): url
        for url, n in LINK.findall(
            " ".join(b.get("text", {}).get("text", "") for b in storm["blocks"])
        )
    }
    assert links == {
        n: f"https://opsbot-test.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
        for n, ts in by_number.items()
    }
    # Every thread still gets its alert list; nothing over Slack's pace.
    for root in roots(slack):
        assert len(slack.replies(CHANNEL, root["ts"])) == 1
    assert slack.rate_violations() == []
    assert all(c["status"] != 429 for c in slack.calls("chat.postMessage"))
    # About one edit per interval at most.
    edits = [c["at"] for c in slack.calls("chat.update") if c["args"]["ts"] == storm["ts"]]
    assert all(b - a >= POLICY.edit_interval_s * 0.8 for a, b in itertools.pairwise(edits))
    storms, entries = storm_rows(engine)
    assert [s.status for s in storms] == [StormStatus.DONE]
    assert sorted(e.incident_id for e in entries) == list(range(1, 17))


async def test_a_trickle_the_pace_can_carry_gets_no_storm_message(
    engine: Engine, slack: SlackEmulator, transport: SlackWebTransport
) -> None:
    # One new incident every 2 s at Slack's 1 msg/s, 4 times faster: each root and its alert
    # list fill the channel's pace, and no root waits for long.
    rate = 4.0
    slack.channel_rate = rate
    sender = OutboxSender(
        engine,
        transport,
        channel_rate=rate,
        channel_burst=BURST,
        storms=StormPolicy(horizon_s=0.25, edit_interval_s=0.25),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        for n in range(1, 7):
            await asyncio.to_thread(open_incidents, engine, range(n, n + 1))
            sender.wake()
            await slack.await_for(lambda n=n: len(roots(slack)) == n, timeout=5)
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await running
    assert storm_messages(slack) == []
    assert_roots_once_in_order(slack, 6)
    assert storm_rows(engine) == ([], [])
    assert slack.rate_violations() == []


async def test_a_new_leader_edits_the_storm_message_the_last_one_posted(
    engine: Engine, slack: SlackEmulator, transport: SlackWebTransport
) -> None:
    crashed = sender_on(engine, transport)
    open_incidents(engine, range(1, 9))
    assert await crashed.drain_once() == 1  # the storm message, and then the leader dies
    [posted] = storm_messages(slack)
    open_incidents(engine, range(9, 13))

    await settle(sender_on(engine, transport), engine)

    [storm] = storm_messages(slack)
    assert storm["ts"] == posted["ts"]
    assert listed(storm) == list(range(1, 13))
    assert "All 12 threads are open." in context(storm)
    assert_roots_once_in_order(slack, 12)
    assert slack.rate_violations() == []


async def test_a_storm_message_that_landed_unrecorded_is_found_and_edited_not_posted_again(
    engine: Engine, slack: SlackEmulator, transport: SlackWebTransport
) -> None:
    crashed = sender_on(engine, transport)
    open_incidents(engine, range(1, 9))
    assert crashed.storms is not None
    crashed.storms.plan(lambda channel: 2)  # the storm is opened and its message queued
    [row] = [r for r in outbox(engine) if r.kind == OutboxKind.STORM_POST]
    assert row.id is not None
    # What a crash between "sent to Slack" and "marked sent" leaves behind:
    prepared = crashed._prepare(row.id)
    assert prepared is not None
    ts = await transport.post(
        prepared.channel, prepared.text, prepared.blocks, outbox_ids=prepared.row_ids
    )
    open_incidents(engine, range(9, 11))

    leader = sender_on(engine, transport)
    assert await leader.reconcile_in_flight() == 1
    await settle(leader, engine)

    [storm] = storm_messages(slack)
    assert storm["ts"] == ts
    assert storm["edits"] >= 1
    assert listed(storm) == list(range(1, 11))
    assert_roots_once_in_order(slack, 10)
    storms, _ = storm_rows(engine)
    assert [(s.ts, s.status) for s in storms] == [(ts, StormStatus.DONE)]


async def test_storm_settings_off_leaves_the_channel_as_it_was(
    engine: Engine, slack: SlackEmulator, transport: SlackWebTransport
) -> None:
    sender = OutboxSender(engine, transport, channel_rate=RATE, channel_burst=BURST)
    open_incidents(engine, range(1, 9))
    await sender.drain(deadline_s=20)
    assert storm_messages(slack) == []
    assert_roots_once_in_order(slack, 8)


async def test_a_root_slack_refuses_for_good_is_marked_and_the_storm_still_ends(
    engine: Engine, slack: SlackEmulator, transport: SlackWebTransport
) -> None:
    sender = sender_on(engine, transport)
    open_incidents(engine, range(1, 9))
    assert await sender.drain_once() == 1  # the storm message
    slack.fail_next("chat.postMessage", 1, status=200, error="invalid_blocks")  # root #1

    await settle(sender, engine)

    [storm] = storm_messages(slack)
    assert listed(storm) == list(range(1, 9))
    assert "7 threads are open; 1 could not be posted." in context(storm)
    assert "#1 *ModelLatencyHigh on svc-01* — svc-01 · critical · _could not be posted_" in str(
        storm["blocks"]
    )
    assert [int(m["text"].split("#")[1].split()[0]) for m in roots(slack)] == list(range(2, 9))
