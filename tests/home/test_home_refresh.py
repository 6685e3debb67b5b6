"""The App Home refresher against the Slack emulator (views.publish through the real Web API
client), on SQLite and PostgreSQL, with an injected clock: a tab is published when opened,
republished when what it shows changed and not otherwise, at most 40 a minute however many
viewers changed, a 429 pauses it, a user Slack refuses is not retried every pass, and without
Slack nothing is published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.home.refresh import Homes
from bot.home.viewers import record_open
from bot.store.home_models import HomeView
from bot.store.types import utcnow
from tests.fakes.slack.api import SlackEmulator
from tests.support import home_rows


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def transport(slack: SlackEmulator) -> AsyncIterator[SlackWebTransport]:
    web = SlackWebTransport(make_web_client(slack.bot_token, slack.api_url, 5.0))
    yield web
    await web.aclose()


@pytest.fixture
def published() -> list[tuple[datetime, str]]:
    """(clock time, user) of each views.publish the refresher made."""
    return []


@pytest.fixture
def homes(
    engine: Engine,
    transport: SlackWebTransport,
    clock: Clock,
    published: list[tuple[datetime, str]],
) -> Homes:
    async def publish(user: str, view: dict[str, Any]) -> None:
        published.append((clock(), user))
        await transport.publish_home(user, view)

    return Homes(
        engine,
        home_rows.catalog(),
        home_rows.executor(engine),
        publish=publish,
        pagerduty=True,
        clock=clock,
    )


def viewer(engine: Engine, user: str) -> HomeView:
    with Session(engine) as session:
        row = session.get(HomeView, user)
        assert row is not None
        return row


async def test_republished_after_a_change_and_not_when_nothing_changed(
    engine: Engine, slack: SlackEmulator, homes: Homes, clock: Clock
) -> None:
    assert await homes.opened("U0ALICE") is True
    first = slack.home("U0ALICE")
    assert first is not None
    assert "nothing waits for your approval" in str(first["blocks"])
    assert await homes.refresh_once() == 0  # nothing changed

    token = home_rows.approval(engine, "U0CAROL", now=clock())
    clock.tick(10)
    assert await homes.refresh_once() == 1
    shown = slack.home("U0ALICE")
    assert shown is not None
    assert token in str(shown["blocks"])
    assert viewer(engine, "U0ALICE").published_hash == shown["private_metadata"]

    for _ in range(6):  # a minute of passes: times are Slack date tokens, nothing moves
        clock.tick(10)
        assert await homes.refresh_once() == 0
    # Opening it again: Slack shows this content (its private_metadata), so no publish.
    assert await homes.opened("U0ALICE", shown) is False
    assert len(slack.calls("views.publish")) == 2
    # A tab that shows something else (another opsbot's, or a race lost) is published again.
    assert await homes.opened("U0ALICE", {**shown, "private_metadata": "stale"}) is True


async def test_at_most_40_publishes_a_minute_however_many_changed(
    engine: Engine,
    slack: SlackEmulator,
    homes: Homes,
    clock: Clock,
    published: list[tuple[datetime, str]],
) -> None:
    users = [f"U0V{n:03d}" for n in range(100)]
    for user in users:
        record_open(engine, user, clock())
    start = clock()
    for _ in range(36):  # six minutes of passes, one every 10 s
        await homes.refresh_once()
        clock.tick(10)

    times = [at for at, _ in published]
    for at in times:
        in_window = [t for t in times if at <= t < at + timedelta(minutes=1)]
        assert len(in_window) <= 40
    # Everyone got theirs, once, within three minutes; the longest-waiting first.
    assert sorted(user for _, user in published) == users
    assert max(times) - start < timedelta(minutes=3)
    assert len(slack.homes()) == 100
    assert len(slack.calls("views.publish")) == 100


async def test_a_user_slack_refuses_is_left_alone_until_later_or_their_next_opening(
    engine: Engine, slack: SlackEmulator, homes: Homes, clock: Clock
) -> None:
    record_open(engine, "U0GONE", clock())
    slack.fail_next("views.publish", status=200, error="user_not_found")
    assert await homes.refresh_once() == 0
    row = viewer(engine, "U0GONE")
    assert row.failed_at == clock()
    assert "user_not_found" in str(row.error)
    for _ in range(30):  # five minutes of passes: not tried again
        clock.tick(10)
        assert await homes.refresh_once() == 0
    assert len(slack.calls("views.publish")) == 1
    clock.tick(11 * 60)  # past the 15 minutes: tried again (and Slack takes it now)
    assert await homes.refresh_once() == 1
    assert viewer(engine, "U0GONE").failed_at is None

    # An opening forgives a failure at once.
    record_open(engine, "U0LEFT", clock())
    slack.fail_next("views.publish", status=200, error="user_not_found")
    assert await homes.refresh_once() == 0
    assert await homes.opened("U0LEFT") is True


async def test_a_429_pauses_the_refresher_for_retry_after(
    engine: Engine, slack: SlackEmulator, homes: Homes, clock: Clock
) -> None:
    record_open(engine, "U0ALICE", clock())
    record_open(engine, "U0BOB", clock())
    slack.rate_limit_next("views.publish", retry_after=30)
    assert await homes.refresh_once() == 0
    clock.tick(10)
    assert await homes.refresh_once() == 0
    assert len(slack.calls("views.publish")) == 1  # paused: not even tried
    clock.tick(21)
    assert await homes.refresh_once() == 2


async def test_without_slack_nothing_is_published(engine: Engine, clock: Clock) -> None:
    homes = Homes(
        engine,
        home_rows.catalog(),
        home_rows.executor(engine),
        publish=None,
        pagerduty=False,
        clock=clock,
    )
    assert await homes.opened("U0ALICE") is False
    assert await homes.refresh_once() == 0
    stop = asyncio.Event()
    loop = asyncio.create_task(homes.run(stop))
    await asyncio.sleep(0)  # let the loop start: it waits, publishing nothing, until stopped
    assert not loop.done()
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
