"""The token bucket's forecast, which decides when a channel's waiting roots are a storm: how
many posts it can take within a horizon, leaving the token kept for interactive messages."""

from __future__ import annotations

from bot.outbox.ratelimit import TokenBucket


def test_a_full_bucket_takes_its_burst_less_what_is_kept_plus_what_refills() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert bucket.takes_within(0.0) == 3
    assert bucket.takes_within(0.0, keep=1.0) == 2
    assert bucket.takes_within(1.0, keep=1.0) == 3


def test_an_empty_bucket_takes_only_what_refills() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    for _ in range(3):
        bucket.take()
    assert bucket.takes_within(0.5) == 0
    assert bucket.takes_within(2.2) == 2


def test_a_429_takes_nothing_until_retry_after() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    bucket.block_for(30)
    assert bucket.takes_within(5.0) == 0
    assert bucket.takes_within(32.5) == 2
