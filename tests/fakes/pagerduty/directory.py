"""The PagerDuty fake's directory: users, services, escalation policies and their on-call shifts.

A service pages through one escalation policy. An escalation policy has levels (1, 2, ...), each
covered by shifts: a user on call from ``start`` to ``end``, through a schedule, or always
(``start`` and ``end`` None: a user named on the level itself, PagerDuty's "permanent" on-call).
``oncalls`` answers ``GET /oncalls`` from the shifts as the REST API documents it: every shift
that overlaps ``[since, until]`` (both default to now), filtered by escalation policy, user and
schedule; with ``earliest`` only the earliest shift of each (escalation policy, level, user).

Shapes (``ref``, ``as_json``) are the REST API v2 ones: references are
``{id, type: "<kind>_reference", summary, self, html_url}``; ``GET /users`` and
``include[]=users`` give the full user (``type: "user"``, ``name``, ``email``, ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

WEB_URL = "https://opsbot-test.pagerduty.com"  # where html_url points (never fetched)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pd_id(prefix: str, seed: str) -> str:
    """A PagerDuty-looking id (``P`` + letters and digits), stable for a seed."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:6].upper()


def _ref(kind: str, object_id: str, summary: str, api: str, path: str, web: str) -> Json:
    return {
        "id": object_id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{api}/{path}/{object_id}",
        "html_url": f"{WEB_URL}/{web}/{object_id}",
    }


@dataclass
class User:
    id: str
    name: str
    email: str

    def ref(self, api: str) -> Json:
        return _ref("user", self.id, self.name, api, "users", "users")

    def as_json(self, api: str) -> Json:
        """The user as ``GET /users`` lists it (and ``GET /oncalls?include[]=users``)."""
        return {
            **self.ref(api),
            "type": "user",
            "name": self.name,
            "email": self.email,
            "time_zone": "Etc/UTC",
            "color": "green",
            "role": "user",
            "avatar_url": "https://pd-static-assets.pagerduty.com/users/blank-avatar.png",
            "description": None,
            "invitation_sent": False,
            "job_title": None,
            "teams": [],
            "contact_methods": [],
            "notification_rules": [],
        }


@dataclass
class Schedule:
    id: str
    name: str

    def ref(self, api: str) -> Json:
        return _ref("schedule", self.id, self.name, api, "schedules", "schedules")


@dataclass
class Shift:
    """One on-call: ``user`` on ``level`` from ``start`` to ``end`` (None: open-ended)."""

    user: User
    level: int
    start: datetime | None = None
    end: datetime | None = None
    schedule: Schedule | None = None

    def overlaps(self, since: datetime, until: datetime) -> bool:
        return (self.start is None or self.start <= until) and (
            self.end is None or self.end > since
        )


@dataclass
class EscalationPolicy:
    id: str
    name: str
    shifts: list[Shift] = field(default_factory=list)

    def ref(self, api: str) -> Json:
        return _ref(
            "escalation_policy",
            self.id,
            self.name,
            api,
            "escalation_policies",
            "escalation_policies",
        )

    def on_call(self, at: datetime, level: int = 1) -> list[User]:
        """Who is on call on ``level`` at ``at`` (whom an incident is assigned to)."""
        users: dict[str, User] = {}
        for shift in self.shifts:
            if shift.level == level and shift.overlaps(at, at):
                users.setdefault(shift.user.id, shift.user)
        return list(users.values())


@dataclass
class Service:
    id: str
    name: str
    escalation_policy: EscalationPolicy

    def ref(self, api: str) -> Json:
        return _ref("service", self.id, self.name, api, "services", "service-directory")

    def as_json(self, api: str) -> Json:
        """The service as ``GET /services/{id}`` returns it (the fields opsbot may read)."""
        return {
            **self.ref(api),
            "type": "service",
            "name": self.name,
            "description": None,
            "status": "active",
            "escalation_policy": self.escalation_policy.ref(api),
            "teams": [],
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            "alert_creation": "create_alerts_and_incidents",
        }


@dataclass(frozen=True)
class OnCallQuery:
    since: datetime
    until: datetime
    policy_ids: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()
    schedule_ids: frozenset[str] = frozenset()
    earliest: bool = False


def oncalls(
    policies: list[EscalationPolicy], query: OnCallQuery
) -> list[tuple[EscalationPolicy, Shift]]:
    """The on-calls ``GET /oncalls`` lists for ``query``: by policy, level, then start."""
    found: list[tuple[EscalationPolicy, Shift]] = []
    for policy in policies:
        if query.policy_ids and policy.id not in query.policy_ids:
            continue
        for shift in policy.shifts:
            if query.user_ids and shift.user.id not in query.user_ids:
                continue
            schedule_id = shift.schedule.id if shift.schedule else "null"
            if query.schedule_ids and schedule_id not in query.schedule_ids:
                continue
            if shift.overlaps(query.since, query.until):
                found.append((policy, shift))
    found.sort(key=lambda pair: (pair[0].id, pair[1].level, _start(pair[1])))
    if not query.earliest:
        return found
    seen: set[tuple[str, int, str]] = set()
    earliest = []
    for policy, shift in found:
        key = (policy.id, shift.level, shift.user.id)
        if key not in seen:
            seen.add(key)
            earliest.append((policy, shift))
    return earliest


def oncall_json(policy: EscalationPolicy, shift: Shift, api: str, *, full_user: bool) -> Json:
    return {
        "escalation_policy": policy.ref(api),
        "escalation_level": shift.level,
        "schedule": shift.schedule.ref(api) if shift.schedule else None,
        "user": shift.user.as_json(api) if full_user else shift.user.ref(api),
        "start": iso(shift.start) if shift.start else None,
        "end": iso(shift.end) if shift.end else None,
    }


def _start(shift: Shift) -> datetime:
    return shift.start or datetime.min.replace(tzinfo=UTC)
