from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.metrics import Metrics
from bot.outbox.sender import OutboxSender
from bot.store.engine import make_engine
from tests.fakes.slack.api import SlackEmulator

CHANNEL = "C0INCIDENT"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@dataclass
class Outbox:
    engine: Engine
    sender: OutboxSender
    transport: SlackWebTransport
    metrics: Metrics

    def new_sender(self, **kwargs: float) -> OutboxSender:
        """A second sender on the same database: what a restarted process gets."""
        return OutboxSender(self.engine, self.transport, self.metrics, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def outbox(slack: SlackEmulator, sqlite_url: str) -> AsyncIterator[Outbox]:
    engine = make_engine(sqlite_url)
    metrics = Metrics()
    transport = SlackWebTransport(make_web_client("xoxb-test-token", slack.api_url, 2), metrics)
    sender = OutboxSender(engine, transport, metrics, channel_rate=50, channel_burst=50)
    yield Outbox(engine, sender, transport, metrics)
    engine.dispose()
