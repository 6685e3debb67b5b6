"""The PagerDuty adapter: the only place opsbot meets the ``pagerduty`` client (REST API v2).

``PagerDutyClient`` reads an incident, acknowledges or resolves it, and lists and adds notes,
acting as the PagerDuty user whose email is ``from_email`` (the ``From`` header PagerDuty
requires on writes with an account-level token). Every failure comes back as
``ExternalServiceError("pagerduty", operation, status, detail)`` with PagerDuty's own message
(``{"error": {"message", "errors"}}``); ``status`` is None when no answer came back.

Paging:

- ``oncalls(policy)``: ``GET /oncalls`` for one escalation policy (``escalation_policy_ids[]``,
  ``include[]=users``, ``earliest=true``, optionally ``since``/``until``), as ``OnCall`` values:
  who, on which level, from ``start`` to ``end`` (None: open-ended).
- ``create_incident(service, title, ...)``: ``POST /incidents`` on a service, optionally through
  another escalation policy, with an ``incident_key``. PagerDuty refuses a second open incident
  with the same key on the service (400 "Open incident with matching dedup key already exists on
  this service", without the incident): the open incident with that key is read back
  (``GET /incidents?incident_key=``) and returned as ``Opened(incident, created=False)``.
- ``request_responders(incident, requester_id, message, targets)``:
  ``POST /incidents/{id}/responder_requests``; targets are users or escalation policies
  (``Responder``). ``requester_id()`` is the id of the ``from_email`` user (``GET /users?query=``,
  exact email match, asked once).
- ``find_users(text)``, ``get_service(id)``.

Retries, decided here rather than left to the library:

- The library retries 429 forever with its own exponential sleep (3 s, 6 s, 12 s, ...) and
  ignores ``Retry-After``. Here a 429 is retried at most ``max_retries`` (2) times after the
  wait ``Retry-After`` asks for, as long as the waits add up to at most ``max_wait_s`` (10 s);
  otherwise the 429 is raised (status 429, the wait asked for in the detail) for the caller to
  retry later. A 429 means the request was not carried out, so repeating a write is safe.
- Network errors are not retried (the library would try 3 times, 21 s of sleeps): a write that
  timed out may have landed, and the actions re-read before they act again.
- ``resolve`` of an incident PagerDuty says is already resolved (400 "Incident Already
  Resolved") re-reads it and returns it: resolving is idempotent for opsbot.
- Lists (``GET /oncalls``, ``/users``, ``/incidents``) are read page by page by the library
  (``iter_all``); a 429 in the middle starts the list again (a read: safe to repeat).

TLS: ``verify`` is True (system CAs), False, an ``ssl.SSLContext``, or the path of a CA file,
which is turned into a context here (httpx2 deprecates ``verify=<str>`` with a warning).
"""

from __future__ import annotations

import itertools
import logging
import re
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bot.clients.retry_after import retry_after_s
from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    from httpx2 import Response

log = logging.getLogger(__name__)

SYSTEM = "pagerduty"
DEFAULT_URL = "https://api.pagerduty.com"
DETAIL_MAX = 500
DEFAULT_RETRY_AFTER_S = 2.0
_ID = re.compile(r"^[A-Z0-9]{1,64}$")
_ALREADY_RESOLVED = "already resolved"
_DEDUP = "matching dedup key already exists"
USERS_MAX = 25  # find_users: more matches than this is not an answer anyone can use
OPEN_STATUSES = ["triggered", "acknowledged"]


@dataclass(frozen=True)
class OnCall:
    """One on-call as PagerDuty computes it from the escalation policy and its schedules."""

    escalation_policy_id: str
    escalation_policy: str  # its name
    level: int  # 1 is paged first
    user_id: str
    name: str
    email: str | None
    start: datetime | None  # None: always (a user named on the level itself)
    end: datetime | None  # None: does not go off call
    schedule: str | None  # the schedule's name; None: on the level directly


@dataclass(frozen=True)
class Responder:
    """Whom a responder request asks: a PagerDuty user, or an escalation policy (its on-call)."""

    kind: Literal["user", "escalation_policy"]
    id: str

    def as_json(self) -> dict[str, Any]:
        return {"responder_request_target": {"id": self.id, "type": f"{self.kind}_reference"}}


@dataclass(frozen=True)
class Opened:
    incident: dict[str, Any]
    created: bool  # False: PagerDuty already had an open incident with the incident_key


T = TypeVar("T")


class PagerDutyClient:
    """Incidents and notes in one PagerDuty account (``base_url`` must be ``https://``)."""

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str = DEFAULT_URL,
        from_email: str,
        verify: bool | str | ssl.SSLContext = True,
        timeout_s: float = 10.0,
        max_retries: int = 2,
        max_wait_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_token:
            raise ValueError("api_token is empty")
        if "@" not in from_email:
            raise ValueError(f"from_email must be a PagerDuty user's email, got {from_email!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        self.base_url = base_url.rstrip("/")
        self.from_email = from_email
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        # The library (and httpx2): ~0.2 s to import, paid by the first client built.
        import pagerduty

        from bot.clients.pagerduty_rest import RestClient

        try:
            self._api = RestClient(
                api_token, default_from=from_email, base_url=self.base_url, verify=verify
            )
        except pagerduty.UrlError as exc:
            raise ValueError(f"PagerDuty base_url {base_url!r}: {exc}") from exc
        # Typed ``int`` in the library (its default is 60); it hands it to httpx2 as is.
        self._api.timeout = timeout_s  # type: ignore[assignment]
        self._api.max_network_attempts = 0  # see the module docstring
        self._requester_id: str | None = None

    # -- incidents -------------------------------------------------------------------------------

    def get_incident(self, incident_id: str) -> dict[str, Any]:
        """The incident as PagerDuty returns it (``id``, ``incident_number``, ``status``,
        ``title``, ``html_url``, ``service``, ``assignments``, ``acknowledgements``, ...)."""
        path = _incident_path(incident_id)
        return _mapping(self._call("get_incident", lambda: self._api.rget(path)))

    def acknowledge(self, incident_id: str) -> dict[str, Any]:
        """Acknowledge; returns the updated incident. An acknowledged incident is acknowledged
        again (PagerDuty accepts it); a resolved one is a 400 from PagerDuty."""
        return self._set_status("acknowledge", incident_id, "acknowledged")

    def resolve(self, incident_id: str) -> dict[str, Any]:
        """Resolve; returns the updated incident. Already resolved: returns it as it is."""
        try:
            return self._set_status("resolve", incident_id, "resolved")
        except ExternalServiceError as exc:
            if exc.status != 400 or _ALREADY_RESOLVED not in exc.detail.lower():
                raise
        incident = self.get_incident(incident_id)
        if incident.get("status") != "resolved":
            raise ExternalServiceError(
                SYSTEM, "resolve", 400, f"{incident_id} is {incident.get('status')}, not resolved"
            )
        return incident

    def set_urgency(self, incident_id: str, urgency: str) -> dict[str, Any]:
        """Set the incident's urgency (``high`` or ``low``); returns the updated incident."""
        path = _incident_path(incident_id)
        body = {"incident": {"type": "incident_reference", "urgency": urgency}}
        return _mapping(self._call("set_urgency", lambda: self._api.rput(path, json=body)))

    def _set_status(self, op: str, incident_id: str, status: str) -> dict[str, Any]:
        path = _incident_path(incident_id)
        body = {"incident": {"type": "incident_reference", "status": status}}
        return _mapping(self._call(op, lambda: self._api.rput(path, json=body)))

    # -- notes -----------------------------------------------------------------------------------

    def list_notes(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's notes, oldest first (``id``, ``content``, ``user``, ``created_at``)."""
        path = f"{_incident_path(incident_id)}/notes"
        found = self._call("list_notes", lambda: self._api.rget(path))
        if not isinstance(found, list):
            raise ExternalServiceError(SYSTEM, "list_notes", 200, f"not a list: {found!r:.200}")
        return [_mapping(note) for note in found]

    def add_note(self, incident_id: str, content: str) -> dict[str, Any]:
        """Add a note (at most 25,000 characters); returns the note PagerDuty stored."""
        path = f"{_incident_path(incident_id)}/notes"
        body = {"note": {"content": content}}
        return _mapping(self._call("add_note", lambda: self._api.rpost(path, json=body)))

    # -- paging ----------------------------------------------------------------------------------

    def oncalls(
        self,
        escalation_policy_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[OnCall]:
        """Who is on call for the policy, by level then start: now (``since`` and ``until``
        default to now), or each person's earliest shift overlapping ``[since, until]``."""
        _check_id(escalation_policy_id)
        params: dict[str, Any] = {
            "escalation_policy_ids[]": [escalation_policy_id],
            "include[]": ["users"],
            "earliest": "true",
        }
        if since is not None:
            params["since"] = _iso(since)
        if until is not None:
            params["until"] = _iso(until)
        found = self._call("oncalls", lambda: list(self._api.iter_all("oncalls", params=params)))
        oncalls = [_oncall(_mapping(o)) for o in found]
        return sorted(oncalls, key=lambda o: (o.level, o.start or _EPOCH, o.name))

    def get_service(self, service_id: str) -> dict[str, Any]:
        """The service (``id``, ``name``, ``html_url``, ``escalation_policy``, ...)."""
        path = f"/services/{_check_id(service_id)}"
        return _mapping(self._call("get_service", lambda: self._api.rget(path)))

    def find_users(self, text: str) -> list[dict[str, Any]]:
        """Users whose name or email matches ``text`` (``GET /users?query=``), at most
        ``USERS_MAX``: ``id``, ``name``, ``email``, ``html_url``, ..."""
        params = {"query": text}
        found = self._call(
            "find_users",
            lambda: list(itertools.islice(self._api.iter_all("users", params=params), USERS_MAX)),
        )
        return [_mapping(u) for u in found]

    def requester_id(self) -> str:
        """The id of the PagerDuty user ``from_email`` names (asked once, then remembered)."""
        if self._requester_id is None:
            wanted = self.from_email.lower()
            match = [
                u
                for u in self.find_users(self.from_email)
                if str(u.get("email", "")).lower() == wanted
            ]
            if not match:
                raise self._error(
                    "requester_id", None, f"no PagerDuty user has the email {self.from_email}"
                )
            self._requester_id = str(match[0]["id"])
        return self._requester_id

    def create_incident(
        self,
        service_id: str,
        title: str,
        *,
        urgency: Literal["high", "low"] = "high",
        escalation_policy_id: str | None = None,
        details: str | None = None,
        incident_key: str | None = None,
    ) -> Opened:
        """Open an incident on the service (assigned through ``escalation_policy_id`` when
        given, else the service's own policy). With an ``incident_key`` of an incident still
        open on the service, that incident comes back with ``created=False``."""
        incident: dict[str, Any] = {
            "type": "incident",
            "title": title,
            "service": {"id": _check_id(service_id), "type": "service_reference"},
            "urgency": urgency,
        }
        if escalation_policy_id is not None:
            incident["escalation_policy"] = {
                "id": _check_id(escalation_policy_id),
                "type": "escalation_policy_reference",
            }
        if details:
            incident["body"] = {"type": "incident_body", "details": details}
        if incident_key is not None:
            incident["incident_key"] = incident_key
        body = {"incident": incident}
        try:
            created = self._call(
                "create_incident", lambda: self._api.rpost("/incidents", json=body)
            )
        except ExternalServiceError as exc:
            if incident_key is None or exc.status != 400 or _DEDUP not in exc.detail.lower():
                raise
            existing = self.find_open_incident(service_id, incident_key)
            if existing is None:  # resolved in between: the key is free again
                raise
            return Opened(existing, created=False)
        return Opened(_mapping(created), created=True)

    def find_open_incident(self, service_id: str, incident_key: str) -> dict[str, Any] | None:
        """The service's open incident with this ``incident_key`` (the newest), or None."""
        params: dict[str, Any] = {
            "incident_key": incident_key,
            "service_ids[]": [_check_id(service_id)],
            "statuses[]": OPEN_STATUSES,
            "date_range": "all",
        }
        found = self._call(
            "find_incident", lambda: list(self._api.iter_all("incidents", params=params))
        )
        incidents = [_mapping(i) for i in found]
        return incidents[-1] if incidents else None

    def request_responders(
        self,
        incident_id: str,
        requester_id: str,
        message: str,
        targets: Sequence[Responder],
    ) -> dict[str, Any]:
        """Ask ``targets`` to join the incident; returns the responder request PagerDuty made
        (``requester``, ``message``, ``responder_request_targets``, ...)."""
        path = f"{_incident_path(incident_id)}/responder_requests"
        body = {
            "requester_id": _check_id(requester_id),
            "message": message,
            "responder_request_targets": [t.as_json() for t in targets],
        }
        return _mapping(self._call("request_responders", lambda: self._api.rpost(path, json=body)))

    def close(self) -> None:
        self._api.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _call(self, op: str, request: Callable[[], T]) -> T:
        import pagerduty

        from bot.clients.pagerduty_rest import RateLimited

        waited = 0.0
        attempt = 0
        while True:
            try:
                return request()
            except RateLimited as exc:
                wait = _retry_after(exc.response)
                if attempt >= self.max_retries or waited + wait > self.max_wait_s:
                    detail = f"rate limited; retry after {wait:g} s ({_message(exc.response)})"
                    raise self._error(op, 429, detail) from None
                log.info("pagerduty %s rate limited; retrying in %g s", op, wait)
                self._sleep(wait)
                waited += wait
                attempt += 1
            except pagerduty.Error as exc:
                response = exc.response
                if response is None:  # no HTTP answer (refused, timed out, TLS)
                    cause = exc.__cause__ or exc
                    detail = f"no answer from {self.base_url}: {type(cause).__name__}: {cause}"
                    raise self._error(op, None, detail) from exc
                if response.is_success:  # an answer the library could not use
                    raise self._error(op, response.status_code, str(exc)) from exc
                raise self._error(op, response.status_code, _message(response)) from exc

    def _error(self, op: str, status: int | None, detail: str) -> ExternalServiceError:
        # resolve() and create_incident() handle these two
        expected = status == 400 and (
            (op == "resolve" and _ALREADY_RESOLVED in detail.lower())
            or (op == "create_incident" and _DEDUP in detail.lower())
        )
        level = logging.INFO if expected else logging.WARNING
        log.log(level, "pagerduty %s failed (%s): %s", op, status, detail)
        return ExternalServiceError(SYSTEM, op, status, detail[:DETAIL_MAX])


def _incident_path(incident_id: str) -> str:
    if not _ID.match(incident_id):
        raise ValueError(f"not a PagerDuty incident id: {incident_id!r}")
    return f"/incidents/{incident_id}"


def _check_id(object_id: str) -> str:
    if not _ID.match(object_id):
        raise ValueError(f"not a PagerDuty id: {object_id!r}")
    return object_id


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"{at!r} has no time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise ExternalServiceError(SYSTEM, "decode", 200, f"not a time: {value!r:.100}") from None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _oncall(entry: dict[str, Any]) -> OnCall:
    """An ``oncalls`` entry (with ``include[]=users``: the full user) as an ``OnCall``."""
    policy = _mapping(entry.get("escalation_policy"))
    user = _mapping(entry.get("user"))
    schedule = entry.get("schedule")
    return OnCall(
        escalation_policy_id=str(policy.get("id")),
        escalation_policy=str(policy.get("summary") or policy.get("id")),
        level=int(entry.get("escalation_level") or 1),
        user_id=str(user.get("id")),
        name=str(user.get("name") or user.get("summary") or user.get("id")),
        email=str(user["email"]) if user.get("email") else None,
        start=_time(entry.get("start")),
        end=_time(entry.get("end")),
        schedule=str(schedule.get("summary")) if isinstance(schedule, dict) else None,
    )


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExternalServiceError(SYSTEM, "decode", 200, f"expected an object, got {value!r:.200}")
    return value


def _message(response: Response) -> str:
    """PagerDuty's ``error.message`` and ``error.errors``, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        details = error.get("errors")
        text = str(error["message"])
        if isinstance(details, list) and details:
            text += ": " + "; ".join(str(d) for d in details)
        return text
    text = response.text.strip()[:200]
    return f"HTTP {response.status_code}: {text or '(empty body)'}"


def _retry_after(response: Response) -> float:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date); a default otherwise."""
    seconds = retry_after_s(response.headers.get("Retry-After"))
    return DEFAULT_RETRY_AFTER_S if seconds is None else seconds
