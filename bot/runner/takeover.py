"""The ``runs`` leader's loop: action runs and playbook runs left behind by a dead replica (or
by this process before a restart) are adopted and continued here, about once a second.

Who is dead is the coordinator's answer (``bot.fleet``): a replica's liveness lock outlives it
by no more than the database session that holds it. Adoption is a conditional UPDATE from the
dead owner, so two adopters never both win; a live owner's work is never taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import anyio

from bot.runner.execute import Executor
from bot.runner.graph import PlaybookRunner

log = logging.getLogger(__name__)

EVERY_S = 1.0


class Takeover:
    def __init__(
        self,
        executor: Executor,
        runner: PlaybookRunner | None,
        alive: Callable[[str], bool],
        *,
        every_s: float = EVERY_S,
    ) -> None:
        self.executor = executor
        self.runner = runner
        self.alive = alive
        self.every_s = every_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await anyio.to_thread.run_sync(self.pass_once)
            except Exception:
                log.exception("adopting interrupted runs failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every_s)

    def pass_once(self) -> int:
        """Adopt and continue every orphaned run; how many were adopted."""
        adopted = len(self.executor.adopt_orphans(self.alive))
        if self.runner is not None:
            adopted += len(self.runner.adopt_orphans(self.alive))
        return adopted
