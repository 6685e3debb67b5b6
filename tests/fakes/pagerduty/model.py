"""The PagerDuty fake's state and rules: incidents, notes, responder requests, in REST API v2
shapes, on the directory of users, services and escalation policies (``directory.py``).

Errors: ``errors.py``.

Status changes follow the REST API: ``PUT /incidents/{id}`` may set ``acknowledged`` or
``resolved``, and the ``urgency`` (high or low). Acknowledging an acknowledged incident succeeds
again (a re-acknowledgement: the acknowledger's entry is refreshed). Nothing can change a
resolved incident: acknowledging, resolving or changing its urgency is a 400 "Incident Already
Resolved" (as the real API is known to answer for a status; not re-verified against it here).
Resolving clears the assignments and acknowledgements, as PagerDuty does. Notes can be added to
an incident in any status.

Creating an incident (``POST /incidents``) assigns it to whoever is on call on level 1 of its
escalation policy (the service's, or the one given). ``incident_key`` deduplicates: a second
incident with the key of an open incident on the same service is a 400 "Arguments Caused Error"
(code 2002) with the detail "Open incident with matching dedup key already exists on this
service", as integrations that handle it quote PagerDuty's answer; the existing incident is not
in the answer (a client finds it with ``GET /incidents?incident_key=``).

A responder request (``POST /incidents/{id}/responder_requests``) asks users, or whoever is on
call on level 1 of an escalation policy, to join; each becomes a ``pending`` responder, and the
request is kept on the incident (``responder_requests``, ``incidents_responders``), as the
REST API returns them. A resolved incident takes no responders (400; the wording is a guess).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakes.pagerduty.directory import (
    WEB_URL,
    EscalationPolicy,
    Json,
    Schedule,
    Service,
    Shift,
    User,
    iso,
    pd_id,
)
from tests.fakes.pagerduty.errors import (
    duplicate_key,
    from_missing,
    invalid,
    not_found,
)

__all__ = ["WEB_URL", "Json", "iso"]  # webhooks.py and the tests read them from here

NOTE_MAX = 25_000  # characters in a note's content
STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")


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
class ResponderRequest:
    """One ``POST /incidents/{id}/responder_requests``: who asked, the message, the targets, and
    the users each target asked (a user: that user; an escalation policy: its level-1 on-call)."""

    id: str
    requester: User
    message: str
    requested_at: datetime
    targets: list[tuple[User | EscalationPolicy, list[User]]]

    def as_json(self, api: str, incident: Incident) -> Json:
        targets = []
        for target, users in self.targets:
            kind = "user" if isinstance(target, User) else "escalation_policy"
            targets.append(
                {
                    "responder_request_target": {
                        "type": kind,
                        "id": target.id,
                        "summary": target.name,
                        "incidents_responders": [
                            incident.responder_json(api, user, self) for user in users
                        ],
                    }
                }
            )
        return {
            "id": self.id,
            "incident": incident.ref(api),
            "requester": self.requester.ref(api),
            "requested_at": iso(self.requested_at),
            "message": self.message,
            "responder_request_targets": targets,
        }


@dataclass
class Incident:
    id: str
    number: int
    title: str
    status: str
    service: Service
    escalation_policy: EscalationPolicy
    urgency: str
    incident_key: str
    created_at: datetime
    assignees: list[User]
    details: str | None = None  # the ``body.details`` it was created with
    updated_at: datetime = field(init=False)
    last_status_change_at: datetime = field(init=False)
    last_status_change_by: User | None = None  # None: the service (it triggered)
    acknowledgements: list[tuple[User, datetime]] = field(default_factory=list)
    resolved_at: datetime | None = None
    notes: list[Note] = field(default_factory=list)
    responder_requests: list[ResponderRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.updated_at = self.last_status_change_at = self.created_at

    @property
    def service_id(self) -> str:
        return self.service.id

    def ref(self, api: str) -> Json:
        return {
            "id": self.id,
            "type": "incident_reference",
            "summary": f"[#{self.number}] {self.title}",
            "self": f"{api}/incidents/{self.id}",
            "html_url": f"{WEB_URL}/incidents/{self.id}",
        }

    def responder_json(self, api: str, user: User, request: ResponderRequest) -> Json:
        policies = [t.name for t, users in request.targets if isinstance(t, EscalationPolicy)]
        return {
            "state": "pending",
            "user": user.ref(api),
            "incident": self.ref(api),
            "updated_at": iso(request.requested_at),
            "message": request.message,
            "requester": request.requester.ref(api),
            "requested_at": iso(request.requested_at),
            "escalation_policy_requests": policies,
        }

    def as_json(self, api: str) -> Json:
        """The incident as ``GET /incidents/{id}`` returns it (the fields opsbot may read)."""
        changed_by = (
            self.last_status_change_by.ref(api)
            if self.last_status_change_by
            else self.service.ref(api)
        )
        responders = [
            self.responder_json(api, user, request)
            for request in self.responder_requests
            for _, users in request.targets
            for user in users
        ]
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
            "service": self.service.ref(api),
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
            "escalation_policy": self.escalation_policy.ref(api),
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
            "incidents_responders": responders,
            "responder_requests": [r.as_json(api, self) for r in self.responder_requests],
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
            "service": self.service.ref(api),
            "assignees": [user.ref(api) for user in self.assignees],
            "escalation_policy": self.escalation_policy.ref(api),
            "teams": [],
            "priority": None,
            "urgency": self.urgency,
            "conference_bridge": None,
            "resolve_reason": None,
        }


@dataclass(frozen=True)
class NewIncident:
    """What ``POST /incidents`` asked for, once its shape was checked (``paging.py``)."""

    title: str
    service_id: str
    escalation_policy_id: str | None
    urgency: str
    incident_key: str | None
    details: str | None
    assignee_ids: tuple[str, ...] = ()


class Account:
    """Users, the directory and incidents; the rules of status changes, notes, new incidents
    and responder requests. Not thread-safe: the fake holds its lock around every call."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}  # by lower-cased email
        self.services: dict[str, Service] = {}  # by id
        self.policies: dict[str, EscalationPolicy] = {}  # by id
        self.schedules: dict[str, Schedule] = {}  # by id
        self.incidents: dict[str, Incident] = {}
        self._numbers = 0
        self._notes = 0
        self._requests = 0

    # -- the directory ---------------------------------------------------------------------------

    def add_user(self, email: str, name: str | None = None) -> User:
        user = User(pd_id("PU", email.lower()), name or email.split("@")[0], email)
        self.users[email.lower()] = user
        return user

    def user(self, email: str) -> User:
        found = self.users.get(email.strip().lower())
        if found is None:
            raise ValueError(f"no user {email}; add_user() first")
        return found

    def user_by_id(self, user_id: str) -> User | None:
        return next((u for u in self.users.values() if u.id == user_id), None)

    def add_policy(self, name: str, policy_id: str | None = None) -> EscalationPolicy:
        policy = EscalationPolicy(policy_id or pd_id("PE", name), name)
        if policy.id in self.policies:
            raise ValueError(f"escalation policy {policy.id} already exists")
        self.policies[policy.id] = policy
        return policy

    def add_service(
        self, name: str, service_id: str | None = None, *, policy: EscalationPolicy | None = None
    ) -> Service:
        service = Service(
            service_id or pd_id("PS", name), name, policy or self.add_policy(f"{name} on-call")
        )
        if service.id in self.services:
            raise ValueError(f"service {service.id} already exists")
        self.services[service.id] = service
        return service

    def service_named(self, name: str) -> Service:
        """The service called ``name``, made (with its own escalation policy) if there is none."""
        found = next((s for s in self.services.values() if s.name == name), None)
        return found or self.add_service(name)

    def add_shift(
        self,
        policy_id: str,
        email: str,
        *,
        level: int = 1,
        start: datetime | None = None,
        end: datetime | None = None,
        schedule: str | None = None,
    ) -> Shift:
        policy = self.policies[policy_id]
        on = None
        if schedule is not None:
            on = self.schedules.setdefault(
                pd_id("PSC", schedule), Schedule(pd_id("PSC", schedule), schedule)
            )
        shift = Shift(self.user(email), level, start, end, on)
        policy.shifts.append(shift)
        return shift

    def requester(self, email: str | None) -> User:
        """The user a write acts as (the ``From`` header); 400 as PagerDuty answers otherwise."""
        if not email:
            raise from_missing()
        user = self.users.get(email.strip().lower())
        if user is None:
            raise invalid("Requester User Not Found")
        return user

    # -- incidents -------------------------------------------------------------------------------

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
        """A seeded incident on the service called ``service``: opened in PagerDuty, by hand."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        on = self.service_named(service)
        assignees = on.escalation_policy.on_call(now) or list(self.users.values())[:1]
        incident = self._open(
            incident_id, title, on, on.escalation_policy, urgency, incident_key, number, now
        )
        incident.assignees = assignees
        if status != "triggered":
            self.set_status(
                incident.id, status, incident.assignees[0] if incident.assignees else None, now
            )
        return incident

    def create_incident(self, new: NewIncident, now: datetime) -> Incident:
        """``POST /incidents`` once its body is known to be well formed: the references must
        exist, and the key must not be that of an open incident on the service."""
        service = self.services.get(new.service_id)
        if service is None:
            raise invalid("Service not found")
        policy = service.escalation_policy
        if new.escalation_policy_id is not None:
            found = self.policies.get(new.escalation_policy_id)
            if found is None:
                raise invalid("Escalation Policy not found")
            policy = found
        assignees = []
        for user_id in new.assignee_ids:
            user = self.user_by_id(user_id)
            if user is None:
                raise invalid("Assignee not found")
            assignees.append(user)
        if new.incident_key is not None and self.open_with_key(service.id, new.incident_key):
            raise duplicate_key()
        incident = self._open(
            None, new.title, service, policy, new.urgency, new.incident_key, None, now
        )
        incident.details = new.details
        incident.assignees = assignees or policy.on_call(now)
        return incident

    def open_with_key(self, service_id: str, incident_key: str) -> Incident | None:
        return next(
            (
                i
                for i in self.incidents.values()
                if i.service.id == service_id
                and i.incident_key == incident_key
                and i.status != "resolved"
            ),
            None,
        )

    def _open(
        self,
        incident_id: str | None,
        title: str,
        service: Service,
        policy: EscalationPolicy,
        urgency: str,
        incident_key: str | None,
        number: int | None,
        now: datetime,
    ) -> Incident:
        self._numbers = max(self._numbers + 1, number or 0)
        number = number or self._numbers
        incident_id = incident_id or pd_id("Q", f"incident-{number}")
        if incident_id in self.incidents:
            raise ValueError(f"incident {incident_id} already exists")
        incident = Incident(
            id=incident_id,
            number=number,
            title=title,
            status="triggered",
            service=service,
            escalation_policy=policy,
            urgency=urgency,
            incident_key=incident_key or hashlib.sha256(incident_id.encode()).hexdigest()[:32],
            created_at=now,
            assignees=[],
        )
        self.incidents[incident_id] = incident
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

    def set_urgency(self, incident_id: str, urgency: Any, now: datetime) -> Incident:
        """``PUT /incidents/{id}`` with an ``urgency``: high or low, while not resolved."""
        incident = self.get(incident_id)
        if urgency not in URGENCIES:
            raise invalid("Urgency must be high or low.")
        if incident.status == "resolved":
            raise invalid("Incident Already Resolved")
        incident.urgency = urgency
        incident.updated_at = now
        return incident

    def add_note(self, incident_id: str, content: Any, user: User, now: datetime) -> Note:
        incident = self.get(incident_id)
        if not isinstance(content, str) or not content.strip():
            raise invalid("Content cannot be empty.")
        if len(content) > NOTE_MAX:
            raise invalid(f"Content is too long (maximum is {NOTE_MAX} characters).")
        self._notes += 1
        note = Note(pd_id("PN", f"note-{self._notes}"), user, content, now)
        incident.notes.append(note)
        incident.updated_at = now
        return note

    # -- responder requests ----------------------------------------------------------------------

    def request_responders(
        self,
        incident_id: str,
        requester_id: str,
        message: str,
        targets: list[tuple[str, str]],
        now: datetime,
    ) -> ResponderRequest:
        """``targets``: (``user_reference`` | ``escalation_policy_reference``, id) pairs, their
        shape already checked."""
        incident = self.get(incident_id)
        requester = self.user_by_id(requester_id)
        if requester is None:
            raise invalid("Requester not found")
        if incident.status == "resolved":
            raise invalid("Responders cannot be requested for a resolved incident.")
        asked: list[tuple[User | EscalationPolicy, list[User]]] = []
        for kind, target_id in targets:
            if kind == "user_reference":
                user = self.user_by_id(target_id)
                if user is None:
                    raise invalid(f"User {target_id} not found")
                asked.append((user, [user]))
            else:
                policy = self.policies.get(target_id)
                if policy is None:
                    raise invalid(f"Escalation Policy {target_id} not found")
                asked.append((policy, policy.on_call(now)))
        self._requests += 1
        request = ResponderRequest(
            pd_id("PR", f"responders-{self._requests}"), requester, message, now, asked
        )
        incident.responder_requests.append(request)
        incident.updated_at = now
        return request
