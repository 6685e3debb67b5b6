"""The PagerDuty fake's paging endpoints: request parsing and answers in REST API v2 shapes.

    GET  /oncalls                              who is on call (``directory.oncalls``)
    GET  /users?query=                         users whose name or email contains the query
    GET  /services/{id}                        one service, with its escalation policy
    GET  /incidents                            incidents, filtered (``incident_key``, ...)
    POST /incidents                            a new incident on a service
    POST /incidents/{id}/responder_requests    ask more responders to join

Lists are paginated as the REST API's classic pagination is: ``limit`` (default 25, at most
100), ``offset``, and ``{"<things>": [...], "limit", "offset", "more", "total"}`` with ``total``
null unless ``total=true`` was asked. Filters that take several values are repeated
``name[]=`` parameters. Bodies are checked as PagerDuty checks them; see ``model.py`` for the
rules that need the account's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from tests.fakes.pagerduty.directory import Json, OnCallQuery, oncall_json, oncalls
from tests.fakes.pagerduty.errors import invalid, not_found
from tests.fakes.pagerduty.model import URGENCIES, Account, NewIncident

PAGE_DEFAULT = 25
PAGE_MAX = 100
TARGET_TYPES = ("user_reference", "escalation_policy_reference")


class Query(Protocol):
    """What aiohttp's ``request.query`` offers (a multi-dict)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getall(self, key: str, default: Any = None) -> list[str]: ...


def page(key: str, items: list[Json], query: Query) -> Json:
    limit = _int(query, "limit", PAGE_DEFAULT)
    offset = _int(query, "offset", 0)
    if limit < 1 or offset < 0:
        raise invalid("limit must be positive and offset not negative.")
    limit = min(limit, PAGE_MAX)
    total = _bool(query, "total")
    return {
        key: items[offset : offset + limit],
        "limit": limit,
        "offset": offset,
        "more": offset + limit < len(items),
        "total": len(items) if total else None,
    }


# -- reads ----------------------------------------------------------------------------------------


def list_oncalls(account: Account, api: str, query: Query, now: datetime) -> Json:
    since, until = _time(query, "since", now), _time(query, "until", now)  # both default to now
    if until < since:
        raise invalid("Until cannot be before since.")
    wanted = OnCallQuery(
        since=since,
        until=until,
        policy_ids=frozenset(query.getall("escalation_policy_ids[]", [])),
        user_ids=frozenset(query.getall("user_ids[]", [])),
        schedule_ids=frozenset(query.getall("schedule_ids[]", [])),
        earliest=_bool(query, "earliest"),
    )
    full_user = "users" in query.getall("include[]", [])
    found = oncalls(list(account.policies.values()), wanted)
    items = [oncall_json(policy, shift, api, full_user=full_user) for policy, shift in found]
    return page("oncalls", items, query)


def list_users(account: Account, api: str, query: Query) -> Json:
    text = str(query.get("query") or "").strip().lower()
    users = [
        u.as_json(api)
        for u in account.users.values()
        if not text or text in u.name.lower() or text in u.email.lower()
    ]
    return page("users", users, query)


def get_service(account: Account, api: str, service_id: str) -> Json:
    service = account.services.get(service_id)
    if service is None:
        raise not_found()
    return {"service": service.as_json(api)}


def list_incidents(account: Account, api: str, query: Query) -> Json:
    """Oldest first. ``date_range`` and ``since``/``until`` are accepted and not applied: every
    incident matches (the fake holds a test's few)."""
    key = query.get("incident_key")
    services = set(query.getall("service_ids[]", []))
    statuses = set(query.getall("statuses[]", []))
    urgencies = set(query.getall("urgencies[]", []))
    found = [
        i.as_json(api)
        for i in sorted(account.incidents.values(), key=lambda i: i.number)
        if (key is None or i.incident_key == key)
        and (not services or i.service.id in services)
        and (not statuses or i.status in statuses)
        and (not urgencies or i.urgency in urgencies)
    ]
    return page("incidents", found, query)


# -- writes ---------------------------------------------------------------------------------------


def new_incident(body: Any) -> NewIncident:
    """The body of ``POST /incidents`` (``{"incident": {...}}``), checked for shape."""
    fields = body.get("incident") if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        raise invalid("Incident must be an object.")
    if fields.get("type") != "incident":
        raise invalid("Incident type must be incident.")
    title = fields.get("title")
    if not isinstance(title, str) or not title.strip():
        raise invalid("Title cannot be empty.")
    service_id = _reference(fields.get("service"), "service_reference", "Service")
    policy = fields.get("escalation_policy")
    policy_id = None
    if policy is not None:
        policy_id = _reference(policy, "escalation_policy_reference", "Escalation Policy")
    assignees = fields.get("assignments") or []
    if assignees and policy_id is not None:
        raise invalid("Assignments cannot be given with an escalation policy.")
    assignee_ids = tuple(
        _reference(
            (a or {}).get("assignee") if isinstance(a, dict) else None, "user_reference", "Assignee"
        )
        for a in assignees
    )
    urgency = fields.get("urgency", "high")
    if urgency not in URGENCIES:
        raise invalid("Urgency must be high or low.")
    key = fields.get("incident_key")
    if key is not None and (not isinstance(key, str) or not key):
        raise invalid("Incident key must be a non-empty string.")
    details = None
    if (incident_body := fields.get("body")) is not None:
        if not isinstance(incident_body, dict) or incident_body.get("type") != "incident_body":
            raise invalid("Body type must be incident_body.")
        details = incident_body.get("details")
        if details is not None and not isinstance(details, str):
            raise invalid("Body details must be a string.")
    return NewIncident(
        title=title,
        service_id=service_id,
        escalation_policy_id=policy_id,
        urgency=urgency,
        incident_key=key,
        details=details,
        assignee_ids=assignee_ids,
    )


def responder_targets(body: Any) -> tuple[str, str, list[tuple[str, str]]]:
    """``(requester_id, message, [(type, id), ...])`` from a responder request's body, checked
    for shape (the body is not wrapped in an entity)."""
    if not isinstance(body, dict):
        raise invalid("The body must be an object.")
    requester_id = body.get("requester_id")
    if not isinstance(requester_id, str) or not requester_id:
        raise invalid("Requester id is required.")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise invalid("Message cannot be empty.")
    raw = body.get("responder_request_targets")
    if not isinstance(raw, list) or not raw:
        raise invalid("Responder request targets must be a non-empty array.")
    targets = []
    for item in raw:
        target = item.get("responder_request_target") if isinstance(item, dict) else None
        if not isinstance(target, dict):
            raise invalid("Each target must be a responder_request_target object.")
        kind, target_id = target.get("type"), target.get("id")
        if kind not in TARGET_TYPES:
            raise invalid("Target type must be user_reference or escalation_policy_reference.")
        if not isinstance(target_id, str) or not target_id:
            raise invalid("Target id is required.")
        targets.append((str(kind), target_id))
    return requester_id, message, targets


# -- parameters -----------------------------------------------------------------------------------


def _reference(value: Any, kind: str, what: str) -> str:
    if not isinstance(value, Mapping) or value.get("type") != kind:
        raise invalid(f"{what} must be a reference of type {kind}.")
    object_id = value.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise invalid(f"{what} id is required.")
    return object_id


def _int(query: Query, name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{name} must be an integer.") from None


def _bool(query: Query, name: str) -> bool:
    value = query.get(name)
    if value in (None, "false"):
        return False
    if value == "true":
        return True
    raise invalid(f"{name} must be true or false.")


def _time(query: Query, name: str, default: datetime) -> datetime:
    value = query.get(name)
    if value is None:
        return default
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise invalid(f"{name} is not a date-time: {value}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=default.tzinfo)
