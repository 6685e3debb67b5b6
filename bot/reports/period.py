"""The period a report covers: ``30d`` / ``24h`` / ``2w`` back from its end, or ISO 8601 times.

``resolve_period("30d", None, now)`` is ``[now - 30 days, now)``; with an end given, a length
counts back from that end. An ISO time without a timezone is UTC. A period is at least one hour
and at most ``MAX_PERIOD`` (365 days) long. Its times follow the rule for every outside time
(``bot/intake/times.py``), and it ends at most ``MAX_PERIOD`` after now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.intake import lengths
from bot.intake.times import EARLIEST, in_utc

MAX_PERIOD = timedelta(days=365)
MIN_PERIOD = timedelta(hours=1)
DEFAULT_PERIOD = timedelta(days=30)
PERIOD_HELP = "a length like 30d, 7d, 24h or 2w (1h to 365d)"


class PeriodError(ValueError):
    """The text is not a period (the message says what is accepted)."""


def parse_length(text: str) -> timedelta | None:
    """``24h`` / ``7d`` / ``2w`` as a timedelta, or None when it is not written that way;
    ``PeriodError`` when it is, but shorter than an hour or longer than 365 days."""
    try:
        return lengths.parse_length(text, shortest=MIN_PERIOD, longest=MAX_PERIOD)
    except lengths.LengthError:
        raise PeriodError(f"`{text}` is out of range: the period must be {PERIOD_HELP}") from None


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time (``2026-10-01``, ``2026-10-01T00:00Z``), UTC unless it says otherwise;
    ``PeriodError`` when it is one but out of range."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    try:
        return in_utc(at if at.tzinfo else at.replace(tzinfo=UTC))
    except ValueError as exc:
        raise PeriodError(f"`{text}` {exc}") from None


def resolve_period(
    since: str | None, until: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """``[since, until)`` from a length or an ISO time for ``since`` (default 30 days) and an
    ISO time for ``until`` (default ``now``). ``PeriodError`` says what is wrong."""
    end = now
    if until is not None:
        parsed_end = parse_time(until)
        if parsed_end is None:
            raise PeriodError(
                f"until must be an ISO 8601 time like 2026-10-31T00:00Z, not {until!r}"
            )
        end = parsed_end
        if end > now + MAX_PERIOD:
            raise PeriodError(f"until ({end.isoformat()}) must be at most 365 days from now")
    if since is None:
        return _within_range(end - DEFAULT_PERIOD, end)
    length = parse_length(since)
    if length is not None:
        return _within_range(end - length, end)
    start = parse_time(since)
    if start is None:
        raise PeriodError(
            f"since must be {PERIOD_HELP} or an ISO 8601 time like 2026-10-01T00:00Z, not {since!r}"
        )
    if start >= end:
        raise PeriodError(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    if end - start > MAX_PERIOD:
        raise PeriodError("the period from since to until must be at most 365 days")
    return start, end


def _within_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start < EARLIEST:
        raise PeriodError(
            f"the period must not start before {EARLIEST.date()} UTC, not {start.isoformat()}"
        )
    return start, end
