from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.metrics import Metrics
from bot.outbox.sender import OutboxSender
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
async def outbox(slack: SlackEmulator, sqlite_engine: Engine) -> Outbox:
    metrics = Metrics()
    transport = SlackWebTransport(make_web_client("xoxb-test-token", slack.api_url, 2), metrics)
    sender = OutboxSender(sqlite_engine, transport, metrics, channel_rate=50, channel_burst=50)
    return Outbox(sqlite_engine, sender, transport, metrics)
