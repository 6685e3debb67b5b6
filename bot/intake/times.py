"""The one rule for a time that comes from outside: a webhook, an API body, a query parameter.

A time must say its timezone, must be representable in UTC (``9999-12-31T23:00-14:00`` is not)
and must not be before ``EARLIEST`` (the Unix epoch: nothing opsbot hears about happened before).
It is kept in UTC. Anything else is a ``ValueError`` naming the rule, which the schemas turn into
a 400 with the field.

A time more than ``FUTURE_SKEW`` ahead of opsbot's clock did not happen yet: the sources that
only report what happened (deploys, lineage, PagerDuty) refuse it (``PastTime``); an alert's
times are clamped instead, and the clamp is noted on the timeline
(``bot/incidents/alert_times.py``), because losing a page is worse than a wrong start time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(minutes=5)


def in_utc(at: datetime) -> datetime:
    """``at`` (timezone-aware) in UTC; ``ValueError`` when it cannot be, or is too early."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("must have a timezone, e.g. 2026-11-27T04:55:00Z")
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{at.isoformat()} is outside the calendar in UTC") from None
    if utc < EARLIEST:
        raise ValueError(f"must not be before {EARLIEST.date()} UTC, not {utc.isoformat()}")
    return utc


def not_in_future(at: datetime) -> datetime:
    """``at`` unless it is more than ``FUTURE_SKEW`` ahead of now (``ValueError``)."""
    if at > datetime.now(UTC) + FUTURE_SKEW:
        raise ValueError(f"is in the future ({at.isoformat()}): check the sender's clock")
    return at


# A time with a timezone, in UTC, not before EARLIEST.
UtcTime = Annotated[AwareDatetime, AfterValidator(in_utc)]
# The same, and not in the future: when something happened.
PastTime = Annotated[AwareDatetime, AfterValidator(in_utc), AfterValidator(not_in_future)]
