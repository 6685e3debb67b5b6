"""What a running opsbot holds: settings, the database engine, metrics, the outbox sender."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from sqlalchemy import Engine

from bot.chat.outbox_sender import OutboxSender
from bot.chat.transport import ChatTransport
from bot.config import Settings
from bot.metrics import Metrics

CONSOLE_CHANNEL = "console"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    metrics: Metrics
    transport: ChatTransport
    sender: OutboxSender
    db_limiter: anyio.CapacityLimiter

    @property
    def incident_channel(self) -> str:
        return self.settings.incident_channel or CONSOLE_CHANNEL
