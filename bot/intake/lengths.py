"""Lengths of time as people type them: ``30m``, ``6h``, ``2d``, ``2w``.

One grammar for every command and API parameter that takes a length (``/ops changes``,
``/ops report``, ``GET /api/v1/report``); each caller says the shortest and longest it accepts,
and a length outside that is refused with the reason, never quietly cut to fit.
"""

from __future__ import annotations

from datetime import timedelta

UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


class LengthError(ValueError):
    """Written as a length, but too short or too long for its use (the message says which)."""


def parse_length(text: str, *, shortest: timedelta, longest: timedelta) -> timedelta | None:
    """The length ``text`` says, or None when it is not written as one (it may be a time);
    ``LengthError`` when it is, but outside ``[shortest, longest]``."""
    number, unit = text[:-1], text[-1:].lower()
    if not number.isdigit() or unit not in UNITS:
        return None
    try:
        length = int(number) * UNITS[unit]
    except OverflowError:  # 99999999999999999999d
        length = timedelta.max
    if not shortest <= length <= longest:
        raise LengthError(f"`{text}` is out of range: from {say(shortest)} to {say(longest)}")
    return length


def say(length: timedelta) -> str:
    """``1h``, ``365d``: a length the way it is typed (the largest unit that divides it)."""
    for unit, size in sorted(UNITS.items(), key=lambda u: u[1], reverse=True):
        if unit != "w" and length % size == timedelta(0) and length >= size:
            return f"{length // size}{unit}"
    return f"{int(length.total_seconds())}s"
