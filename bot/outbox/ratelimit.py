"""A token bucket: ``rate`` messages a second on average, bursts of up to ``burst``."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._blocked_until = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is available now)."""
        now = time.monotonic()
        self._refill(now)
        blocked = max(0.0, self._blocked_until - now)
        missing = max(0.0, 1.0 - self._tokens) / self.rate
        return max(blocked, missing)

    def take(self) -> None:
        self._refill(time.monotonic())
        self._tokens -= 1.0

    def block_for(self, seconds: float) -> None:
        """Slack said 429: send nothing more until Retry-After has passed."""
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        self._tokens = min(self._tokens, 0.0)
