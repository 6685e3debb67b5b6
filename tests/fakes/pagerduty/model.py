"""The PagerDuty fake's state and rules: users, incidents, notes, in REST API v2 shapes.

Errors are PagerDuty's: ``{"error": {"message": ..., "code": ..., "errors": [...]}}``. The codes
are those of PagerDuty's published error-code table as far as known here (2001 Invalid Input
Provided, 2006 authentication, 2010 Access Denied, 2100 Not Found); 2016 for a missing ``From``
is what a public client's tests show, 2020 for the rate limit is a best guess. Clients should act
on the HTTP status and show the message; nothing in opsbot branches on a code.

Status changes follow the REST API: ``PUT /incidents/{id}`` may set ``acknowledged`` or
``resolved``. Acknowledging an acknowledged incident succeeds again (a re-acknowledgement: the
acknowledger's entry is refreshed). Nothing can change a resolved incident: acknowledging or
resolving it again is a 400 "Incident Already Resolved" (as the real API is known to answer; not
re-verified against it here). Resolving clears the assignments and acknowledgements, as
PagerDuty does. Notes can be added to an incident in any status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

NOTE_MAX = 25_000  # characters in a note's content
STATUSES = ("triggered", "acknowledged", "resolved")
WEB_URL = "https://opsbot-test.pagerduty.com"  # where html_url points (never fetched)


class PDError(Exception):
    """An error answer: HTTP status, PagerDuty's message, code and detail list."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}: {errors or ''}")
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors or []
        self.headers = headers or {}

    def body(self) -> Json:
        error: Json = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = list(self.errors)
        return {"error": error}


def invalid(*errors: str) -> PDError:
    return PDError(400, "Invalid Input Provided", 2001, list(errors))


def not_found() -> PDError:
    return PDError(404, "Not Found", 2100)


def unauthorized() -> PDError:
    return PDError(401, "Invalid Credentials", 2006)


def access_denied() -> PDError:
    return PDError(403, "Access Denied", 2010, ["A read-only API key cannot change anything."])


def from_missing() -> PDError:
    return PDError(
        400,
        'You must specify a user\'s email address in the "From" header to perform this action',
        2016,
    )


def rate_limited(retry_after: float) -> PDError:
    return PDError(429, "Rate Limit Exceeded", 2020, headers={"Retry-After": f"{retry_after:g}"})


def server_error(status: int = 500) -> PDError:
    return PDError(status, "Internal Server Error", 2000)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pd_id(prefix: str, seed: str) -> str:
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:6].upper()


@dataclass
class User:
    id: str
    name: str
    email: str

    def ref(self, api: str) -> Json:
        return {
            "id": self.id,
            "type": "user_reference",
            "summary": self.name,
            "self": f"{api}/users/{self.id}",
            "html_url": f"{WEB_URL}/users/{self.id}",
        }


@dataclass
class Note:
    id: str
    user: User
    content: str
    created_at: datetime

    def as_json(self, api: str) -> Json:
        return {
            "id": self.id,
            "user": self.user.ref(api),
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": self.content,
            "created_at": iso(self.created_at),
        }


@dataclass
class Incident:
    id: str
    number: int
    title: str
    status: str
    service: str
    urgency: str
    incident_key: str
    created_at: datetime
    assignees: list[User]
    updated_at: datetime = field(init=False)
    last_status_change_at: datetime = field(init=False)
    last_status_change_by: User | None = None  # None: the service (it triggered)
    acknowledgements: list[tuple[User, datetime]] = field(default_factory=list)
    resolved_at: datetime | None = None
    notes: list[Note] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.updated_at = self.last_status_change_at = self.created_at

    @property
    def service_id(self) -> str:
        return _pd_id("PS", self.service)

    def service_ref(self, api: str) -> Json:
        return {
            "id": self.service_id,
            "type": "service_reference",
            "summary": self.service,
            "self": f"{api}/services/{self.service_id}",
            "html_url": f"{WEB_URL}/service-directory/{self.service_id}",
        }

    def as_json(self, api: str) -> Json:
        """The incident as ``GET /incidents/{id}`` returns it (the fields opsbot may read)."""
        changed_by = (
            self.last_status_change_by.ref(api)
            if self.last_status_change_by
            else self.service_ref(api)
        )
        return {
            "id": self.id,
            "type": "incident",
            "summary": f"[#{self.number}] {self.title}",
            "self": f"{api}/incidents/{self.id}",
            "html_url": f"{WEB_URL}/incidents/{self.id}",
            "incident_number": self.number,
            "title": self.title,
            "description": self.title,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "status": self.status,
            "incident_key": self.incident_key,
            "service": self.service_ref(api),
            "assignments": [
                {"at": iso(self.created_at), "assignee": user.ref(api)} for user in self.assignees
            ],
            "assigned_via": "escalation_policy",
            "acknowledgements": [
                {"at": iso(at), "acknowledger": user.ref(api)} for user, at in self.acknowledgements
            ],
            "last_status_change_at": iso(self.last_status_change_at),
            "last_status_change_by": changed_by,
            "resolved_at": iso(self.resolved_at) if self.resolved_at else None,
            "urgency": self.urgency,
            "priority": None,
            "escalation_policy": {
                "id": "PEP0001",
                "type": "escalation_policy_reference",
                "summary": f"{self.service} on-call",
                "self": f"{api}/escalation_policies/PEP0001",
                "html_url": f"{WEB_URL}/escalation_policies/PEP0001",
            },
            "teams": [],
            "pending_actions": [],
            "alert_counts": {
                "all": 1,
                "triggered": 0 if self.status == "resolved" else 1,
                "resolved": 1 if self.status == "resolved" else 0,
            },
            "is_mergeable": True,
            "incident_type": {"name": "incident_default"},
            "resolve_reason": None,
            "conference_bridge": None,
        }

    def webhook_data(self, api: str) -> Json:
        """The incident as a v3 webhook's ``event.data`` carries it."""
        return {
            "id": self.id,
            "type": "incident",
            "self": f"{api}/incidents/{self.id}",
            "html_url": f"{WEB_URL}/incidents/{self.id}",
            "number": self.number,
            "status": self.status,
            "incident_key": self.incident_key,
            "created_at": iso(self.created_at),
            "title": self.title,
            "service": self.service_ref(api),
            "assignees": [user.ref(api) for user in self.assignees],
            "escalation_policy": self.as_json(api)["escalation_policy"],
            "teams": [],
            "priority": None,
            "urgency": self.urgency,
            "conference_bridge": None,
            "resolve_reason": None,
        }


class Account:
    """Users and incidents; the rules of status changes and notes. Not thread-safe: the fake
    holds its lock around every call."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}  # by lower-cased email
        self.incidents: dict[str, Incident] = {}
        self._numbers = 0
        self._notes = 0

    def add_user(self, email: str, name: str | None = None) -> User:
        user = User(_pd_id("PU", email.lower()), name or email.split("@")[0], email)
        self.users[email.lower()] = user
        return user

    def requester(self, email: str | None) -> User:
        """The user a write acts as (the ``From`` header); 400 as PagerDuty answers otherwise."""
        if not email:
            raise from_missing()
        user = self.users.get(email.strip().lower())
        if user is None:
            raise invalid("Requester User Not Found")
        return user

    def add_incident(
        self,
        incident_id: str | None,
        title: str,
        *,
        status: str,
        service: str,
        urgency: str,
        incident_key: str | None,
        number: int | None,
        now: datetime,
    ) -> Incident:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self._numbers = max(self._numbers + 1, number or 0)
        number = number or self._numbers
        incident_id = incident_id or _pd_id("Q", f"incident-{number}")
        if incident_id in self.incidents:
            raise ValueError(f"incident {incident_id} already exists")
        incident = Incident(
            id=incident_id,
            number=number,
            title=title,
            status="triggered",
            service=service,
            urgency=urgency,
            incident_key=incident_key or hashlib.sha256(incident_id.encode()).hexdigest()[:32],
            created_at=now,
            assignees=list(self.users.values())[:1],
        )
        self.incidents[incident_id] = incident
        if status != "triggered":
            self.set_status(
                incident_id, status, incident.assignees[0] if incident.assignees else None, now
            )
        return incident

    def get(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise not_found()
        return incident

    def set_status(
        self, incident_id: str, status: str, user: User | None, now: datetime
    ) -> tuple[Incident, bool]:
        """Apply a status change; ``(incident, whether the status changed)``."""
        incident = self.get(incident_id)
        if status not in ("acknowledged", "resolved"):
            raise invalid("Incident status must be acknowledged or resolved.")
        if incident.status == "resolved":
            raise invalid("Incident Already Resolved")
        changed = incident.status != status
        if status == "acknowledged" and user is not None:
            incident.acknowledgements = [
                (u, at) for u, at in incident.acknowledgements if u.id != user.id
            ] + [(user, now)]
        if status == "resolved":
            incident.resolved_at = now
            incident.assignees = []
            incident.acknowledgements = []
        incident.status = status
        incident.updated_at = now
        if changed:
            incident.last_status_change_at = now
            incident.last_status_change_by = user
        return incident, changed

    def add_note(self, incident_id: str, content: Any, user: User, now: datetime) -> Note:
        incident = self.get(incident_id)
        if not isinstance(content, str) or not content.strip():
            raise invalid("Content cannot be empty.")
        if len(content) > NOTE_MAX:
            raise invalid(f"Content is too long (maximum is {NOTE_MAX} characters).")
        self._notes += 1
        note = Note(_pd_id("PN", f"note-{self._notes}"), user, content, now)
        incident.notes.append(note)
        incident.updated_at = now
        return note
