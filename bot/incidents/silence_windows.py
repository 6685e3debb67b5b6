"""How long a silence lasts, as people choose it: one grammar for the command and the Slack select.

    1h  4h  90m  2d     a length from now (``bot/intake/lengths.py``), from 5 minutes to 7 days
    monday              until the next Monday 09:00 UTC after now ("until Monday morning");
                        opsbot has no setting for a team's time zone, so it is UTC
    until <time>        an ISO 8601 time, ``2026-12-08T14:00Z`` (UTC unless it says otherwise)
    <time>              the same, without ``until``

A window ends after now and at most ``MAX_SILENCE`` (7 days) from it; anything else is a
``WindowError`` that says what is accepted. The Slack select offers ``CHOICES`` and a "Custom…"
option that answers with the command to type (``custom_hint``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.intake.lengths import LengthError, parse_length
from bot.reports.period import PeriodError, parse_time

SHORTEST = timedelta(minutes=5)
MAX_SILENCE = timedelta(days=7)
MONDAY_HOUR = 9
# The Slack select's options: value → label (the value is also what the command takes).
CHOICES = {"1h": "1 h", "4h": "4 h", "monday": "until Monday 09:00 UTC"}
CUSTOM = "custom"
HELP = (
    "how long: 1h, 4h (any length from 5m to 7d), monday (next Monday 09:00 UTC), "
    "or until <time> like until 2026-12-08T14:00Z"
)


class WindowError(ValueError):
    """Not a window a silence can have (the message says what is accepted)."""


def parse_window(words: Sequence[str], now: datetime) -> datetime:
    """When a silence chosen as ``words`` ends (UTC); ``WindowError`` if it cannot."""
    words = [w for w in words if w]
    if words and words[0].lower() == "until":
        words = words[1:]
        if len(words) != 1:
            raise WindowError(f"until needs one time, like until 2026-12-08T14:00Z: {HELP}")
    if len(words) != 1:
        raise WindowError(f"Say {HELP}.")
    word = words[0]
    if word.lower() == "monday":
        return check_end(next_monday(now), now)
    try:
        length = parse_length(word, shortest=SHORTEST, longest=MAX_SILENCE)
        ends = now + length if length is not None else parse_time(word)
    except (LengthError, PeriodError) as exc:
        raise WindowError(f"{exc}: {HELP}") from None
    if ends is None:
        raise WindowError(f"`{word}` is not a length or a time: {HELP}")
    return check_end(ends, now)


def next_monday(now: datetime) -> datetime:
    """The first Monday 09:00 UTC after ``now``."""
    day = now.replace(hour=MONDAY_HOUR, minute=0, second=0, microsecond=0)
    day += timedelta(days=(7 - day.weekday()) % 7)
    return day if day > now else day + timedelta(days=7)


def check_end(ends_at: datetime, now: datetime) -> datetime:
    """``ends_at`` when a silence may end then: after now, at most ``MAX_SILENCE`` from now."""
    if ends_at <= now:
        raise WindowError(f"{until_text(ends_at, now)} is not in the future")
    if ends_at - now > MAX_SILENCE:
        raise WindowError(
            f"{until_text(ends_at, now)} is more than 7 days away: a silence is at most 7 days"
        )
    return ends_at


def until_text(ends_at: datetime, now: datetime) -> str:
    """``14:00 UTC`` today, ``Mon 8 Dec 09:00 UTC`` another day, the year when not this one."""
    if ends_at.date() == now.date():
        return f"{ends_at:%H:%M} UTC"
    year = f" {ends_at.year}" if ends_at.year != now.year else ""
    return f"{ends_at:%a} {ends_at.day} {ends_at:%b}{year} {ends_at:%H:%M} UTC"


def custom_hint(incident_id: int, now: datetime) -> str:
    """What to type for a time of one's own (the select's "Custom…")."""
    example = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return (
        f"Type `/ops silence until {example:%Y-%m-%dT%H:%M}Z #{incident_id}` with the time you "
        f"want (UTC unless it says otherwise, at most 7 days ahead), or a length: "
        f"`/ops silence 90m #{incident_id}`."
    )
