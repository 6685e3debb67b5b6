"""``Retry-After`` as every outside system sends it: seconds, or an HTTP date (RFC 9110)."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime


def retry_after_s(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait (never negative), or None when the header is absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value.strip()).timestamp() - now())
    except (TypeError, ValueError):
        return None
