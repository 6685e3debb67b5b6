"""Fault injection bookkeeping for the Slack emulator: failures and delays queued per method.

``SlackEmulator.fail_next``/``rate_limit_next``/``delay_next`` queue them here; each Web API
call to that method takes the next one. Not thread-safe on its own: the emulator holds its lock.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass


@dataclass
class Fault:
    status: int
    error: str
    retry_after: int | None = None


class FaultError(Exception):
    """A queued failure answered with its own HTTP status (200 faults are plain API errors)."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.error)
        self.fault = fault


class FaultPlan:
    """The failures and answer delays still to come, per Web API method, oldest first."""

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)

    def fail(self, method: str, count: int, status: int, error: str) -> None:
        self._faults[method].extend(Fault(status, error) for _ in range(count))

    def rate_limit(self, method: str, count: int, retry_after: int) -> None:
        self._faults[method].extend(Fault(429, "ratelimited", retry_after) for _ in range(count))

    def delay(self, method: str, seconds: float, count: int) -> None:
        self._delays[method].extend(seconds for _ in range(count))

    def clear(self) -> None:
        self._delays.clear()
        self._faults.clear()

    def take(self, method: str) -> tuple[float, Fault | None]:
        """The delay (0.0 for none) and the fault (or None) for the next call to ``method``."""
        delays, faults = self._delays.get(method), self._faults.get(method)
        delay = delays.popleft() if delays else 0.0
        fault = faults.popleft() if faults else None
        return delay, fault
