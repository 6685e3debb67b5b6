"""A token bucket: ``rate`` messages a second on average, bursts of up to ``burst``. A caller
may ask to leave tokens in it (``keep``): the sender keeps one for the next interactive message."""

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

    def wait_time(self, *, keep: float = 0.0) -> float:
        """Seconds until a token can be taken (0: now) leaving ``keep`` tokens in the bucket for
        others; at most ``burst - 1`` are kept, so a token always comes."""
        now = time.monotonic()
        self._refill(now)
        blocked = max(0.0, self._blocked_until - now)
        needed = 1.0 + min(keep, self.burst - 1.0)
        missing = max(0.0, needed - self._tokens) / self.rate
        return max(blocked, missing)

    def takes_within(self, seconds: float, *, keep: float = 0.0) -> int:
        """How many tokens could be taken within ``seconds`` from now, leaving ``keep``."""
        now = time.monotonic()
        self._refill(now)
        window = max(0.0, seconds - max(0.0, self._blocked_until - now))
        spare = self._tokens - min(keep, self.burst - 1.0) + window * self.rate
        return max(0, int(spare))

    def take(self) -> None:
        self._refill(time.monotonic())
        self._tokens -= 1.0

    def block_for(self, seconds: float) -> None:
        """Slack said 429: send nothing more until Retry-After has passed."""
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        self._tokens = min(self._tokens, 0.0)
