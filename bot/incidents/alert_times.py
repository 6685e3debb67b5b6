"""When an alert started and ended, as opsbot records it: Alertmanager's times, clamped.

- a ``startsAt`` more than ``FUTURE_SKEW`` ahead of opsbot's clock → now (a Prometheus clock
  running ahead, or a bogus time: an incident cannot start in year 9999);
- a resolved alert's ``endsAt`` ahead of now → now, and before its start → its start (an alert
  cannot end before it began).

Each clamp is noted on the incident's timeline (kind ``alert_time_clamped``), saying what was
received and what was used. An occurrence is still ``(fingerprint, startsAt as received)``: a
redelivery is recognised through the note (``clamped_starts``), as the stored start is not the
received one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.intake.times import FUTURE_SKEW
from bot.store.models import TimelineEvent

CLAMP_KIND = "alert_time_clamped"


@dataclass(frozen=True)
class Clamp:
    field: str  # "startsAt" | "endsAt"
    received: datetime
    used: datetime
    why: str

    def event(self, incident_id: int, fingerprint: str, name: str) -> dict[str, Any]:
        """The timeline row that notes this clamp (for a bulk INSERT or ``timeline.add``)."""
        return {
            "incident_id": incident_id,
            "at": self.used,
            "kind": CLAMP_KIND,
            "actor": None,
            "text": (
                f"{name} {self.field} {self.received.isoformat()} {self.why}: "
                f"used {self.used.isoformat()}"
            ),
            "data": {
                "fingerprint": fingerprint,
                "field": self.field,
                "received": self.received.isoformat(),
                "used": self.used.isoformat(),
            },
        }


def start(received: datetime, now: datetime) -> tuple[datetime, Clamp | None]:
    """The start to record for ``received`` (``startsAt``), and the clamp if there was one."""
    if received > now + FUTURE_SKEW:
        return now, Clamp("startsAt", received, now, "is in the future")
    return received, None


def end(received: datetime | None, began: datetime, now: datetime) -> tuple[datetime, Clamp | None]:
    """The end to record for a resolved alert that began at ``began`` (``None``: no ``endsAt``
    given, so now)."""
    if received is None:
        return max(now, began), None
    if received > now + FUTURE_SKEW:
        used = max(now, began)
        return used, Clamp("endsAt", received, used, "is in the future")
    if received < began:
        return began, Clamp("endsAt", received, began, "is before the alert started")
    return received, None


def clamped_starts(
    session: Session, incident_ids: set[int]
) -> dict[tuple[str, datetime], datetime]:
    """``(fingerprint, startsAt as received) -> start recorded`` for the clamped starts of
    these incidents' alerts."""
    if not incident_ids:
        return {}
    notes = session.exec(
        select(TimelineEvent.data).where(
            TimelineEvent.kind == CLAMP_KIND, col(TimelineEvent.incident_id).in_(incident_ids)
        )
    ).all()
    found = {}
    for data in notes:
        if data.get("field") == "startsAt":
            received = datetime.fromisoformat(data["received"])
            found[(data["fingerprint"], received)] = datetime.fromisoformat(data["used"])
    return found
