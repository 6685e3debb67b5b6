"""How a summary writes times, durations and counts (the same in Markdown, Slack and prompts)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from bot.render.jobs import duration


def human(span: timedelta) -> str:
    """``42s``, ``4m 10s``, ``1h 02m``, ``2d 03h``: two units at most, rounded down."""
    return duration(span.total_seconds(), sep=" ")


def day_minute(at: datetime) -> str:
    """``2026-11-27 03:04 UTC``."""
    return f"{at:%Y-%m-%d %H:%M} UTC"


def clock(at: datetime, day: date | None = None) -> str:
    """``03:04:10 UTC``; with the date in front when it is not ``day`` (the incident's)."""
    if day is not None and at.date() != day:
        return f"{at:%Y-%m-%d %H:%M:%S} UTC"
    return f"{at:%H:%M:%S} UTC"


def count(value: float) -> str:
    """``317,500``; ``12.5``; ``0.25``: whole numbers from 100 up, three digits below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def cites_text(ids: Iterable[int], *, brackets: str = "[]") -> str:
    """``[#3, #9]`` (or ``(#3, #9)`` with ``brackets="()"``); empty for no ids."""
    unique = sorted(set(ids))
    if not unique:
        return ""
    return brackets[0] + ", ".join(f"#{i}" for i in unique) + brackets[1]
