"""SIGTERM drains a replica, in this order:

1. ``/readyz`` answers 503 ``draining``: the load balancer stops sending new requests here;
2. the background loops stop and their leadership is handed over (another replica takes them
   within a second), while this replica keeps serving for ``drain_delay_s``;
3. uvicorn stops accepting connections and lets in-flight requests finish (up to
   ``shutdown_timeout_s``); an action applied by one of them finishes too, or, if the grace
   period ends first, is adopted by another replica once this one is gone;
4. the app shuts down: liveness is given up last, and the process exits.

A second SIGTERM, or SIGINT (Ctrl-C at a terminal), skips the wait.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, begin_drain: Callable[[], None], drain_delay_s: float
    ) -> None:
        super().__init__(config)
        self.begin_drain = begin_drain
        self.drain_delay_s = drain_delay_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._draining:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        log.info("SIGTERM: draining for %.1f s before shutting down", self.drain_delay_s)
        self.begin_drain()
        timer = threading.Timer(self.drain_delay_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()
