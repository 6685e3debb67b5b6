"""What every opsbot process holds, whether it serves or runs the console."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bot.catalog.load import load_catalog
from bot.catalog.model import Catalog
from bot.clients.ray import RayJobsClient
from bot.clients.set import Clients
from bot.config import Settings
from bot.fleet.coordinator import Coordinator, coordinator_for
from bot.logs import set_replica
from bot.runner.ops import Ops
from bot.store.engine import make_engine
from bot.wiring.clients import build_clients, ray_client
from bot.wiring.ops import build_ops


@dataclass
class Core:
    settings: Settings
    engine: Engine
    catalog: Catalog
    fleet: Coordinator  # this process's place in the fleet (not started: ``fleet.start()``)
    clients: Clients  # with a write's timeout; ``clients.reads(t)`` for reads
    ray: RayJobsClient  # the same as ``clients.ray``, which a job tracker follows
    ops: Ops  # the executor and the playbook runner
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release what was built, the fleet place last: until then no other replica may adopt
        the runs this process owns."""
        for close in self.closers:
            close()
        self.fleet.close()
        self.engine.dispose()


def build_core(settings: Settings) -> Core:
    """The parts, built; nothing is connected or started yet."""
    engine = make_engine(settings.database_url)
    fleet = coordinator_for(settings.database_url, engine)
    set_replica(fleet.replica)
    catalog = load_catalog(settings.services_file)
    ray = ray_client(settings)
    clients = build_clients(settings, ray)
    ops, close_ops = build_ops(settings, engine, catalog, clients, replica=fleet.replica)
    closers = [close_ops, clients.close]  # the actions first: they write through the clients
    return Core(settings, engine, catalog, fleet, clients, ray, ops, closers=closers)
