"""``Retry-After`` in both forms RFC 9110 allows, as Slack, PagerDuty and LLM servers send it."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from bot.clients.retry_after import retry_after_s

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def at_now() -> float:
    return NOW.timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),  # never negative
        (format_datetime(NOW.replace(minute=2), usegmt=True), 120.0),
        (format_datetime(NOW.replace(hour=3), usegmt=True), 0.0),  # a date already past
        (None, None),
        ("", None),
        ("soon", None),
    ],
)
def test_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header, now=at_now) == seconds
