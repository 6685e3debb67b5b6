"""What a serving opsbot holds (built by ``bot.wiring.runtime``): settings, the database
engine, metrics, the outbox sender, the service catalog, the outside clients, the workers, and
its place in the fleet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
from sqlalchemy import Engine

from bot.catalog.model import Catalog
from bot.clients.set import Clients
from bot.config import Settings
from bot.enrich.worker import EnrichmentWorker
from bot.fleet.coordinator import Coordinator
from bot.intake.pressure import IntakePressure
from bot.metrics import Metrics
from bot.outbox.sender import OutboxSender
from bot.outbox.transport import ChatTransport
from bot.store.group_commit import GroupCommitter
from bot.telemetry.reader import StateReader

if TYPE_CHECKING:
    from bot.clients.llm import LLMClient
    from bot.clients.prometheus import PromClient
    from bot.home.refresh import Homes
    from bot.incidents.reminders import Reminders
    from bot.jobs.tracker import JobTracker
    from bot.runner.ops import Ops
    from bot.summary.worker import SummaryWorker


CONSOLE_CHANNEL = "console"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    metrics: Metrics
    transport: ChatTransport
    sender: OutboxSender
    db_limiter: anyio.CapacityLimiter
    committer: GroupCommitter  # webhook deliveries stored together (bot/store/group_commit.py)
    catalog: Catalog
    clients: Clients  # the outside systems, with a write's timeout (``bot.clients.set``)
    enrichment: EnrichmentWorker
    pressure: IntakePressure
    fleet: Coordinator
    ops: Ops  # the executor and playbook runner
    jobs: JobTracker  # follows the Ray jobs opsbot launched
    summaries: SummaryWorker  # writes post-incident summaries
    reminders: Reminders  # status updates due (``bot/incidents/reminders.py``)
    homes: Homes  # the App Home tabs (``bot/home/``); publishes nothing without Slack
    llm: LLMClient | None = None  # None: templates and deterministic triage
    prom: PromClient | None = None  # for summaries and triage
    state: StateReader | None = None  # the database gauges read at each /metrics scrape
    closers: list[Callable[[], None]] = field(default_factory=list)
    draining: bool = False  # SIGTERM: /readyz says 503 while requests finish (bot.fleet.drain)

    @property
    def incident_channel(self) -> str:
        return self.settings.incident_channel or CONSOLE_CHANNEL
