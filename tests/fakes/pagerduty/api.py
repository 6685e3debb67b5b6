"""A protocol-faithful PagerDuty REST API v2 fake for tests: a real HTTPS server on 127.0.0.1.

The ``pagerduty`` client refuses any base URL that is not ``https://``, so the fake serves TLS
with a self-signed certificate made at start (``tls.py``); a client trusts it with
``verify=fake.client_ssl_context()`` (or the CA file ``fake.cert_path``):

    with PagerDutyFake() as pd:
        incident = pd.add_incident("PABC123", "Fraud scorer errors")
        client = PagerDutyClient(pd.api_token, base_url=pd.url, from_email=pd.from_email,
                                 verify=str(pd.cert_path))

Served: ``GET``/``PUT /incidents/{id}``, ``GET``/``POST /incidents/{id}/notes``, and for paging
(``paging.py``) ``GET``/``POST /incidents``, ``POST /incidents/{id}/responder_requests``,
``GET /oncalls``, ``GET /users``, ``GET /services/{id}``. Checked as PagerDuty checks:
``Authorization: Token token=<key>`` (401 otherwise; 403 for a read-only key on a write), the
``From`` header on writes (the email of a user of the account; 400 otherwise), the request
bodies, status transitions, note length, incident keys (``model.py``); unknown incidents,
services and paths are 404. Errors are PagerDuty's ``{"error": {"message", "code", "errors"}}``
(``errors.py``).

Controls: ``add_user``, ``add_policy``, ``add_service`` and ``add_oncall`` (who is on call on
which level of an escalation policy, from when to when: ``directory.py``), ``add_incident``,
``change_status`` (a person acting in PagerDuty), ``incident``/``notes``/``incidents`` read-back,
``clock`` (what "now" is for on-calls and new incidents), the ``requests`` log,
``fail_next``/``rate_limit_next`` (429 with ``Retry-After``), and ``webhook_to(url, secret)``:
every new incident, status change and note is then POSTed there as a v3 webhook
(``incident.triggered``, ``incident.acknowledged``, ``incident.resolved``,
``incident.annotated``) signed ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256>``, once, no retry;
``webhooks()`` says what was delivered.

The parts: ``model.py`` (incidents: state, shapes, rules), ``directory.py`` (users, services,
escalation policies, on-call shifts), ``paging.py`` (the paging endpoints), ``errors.py``,
``webhooks.py`` (outgoing webhooks), ``tls.py`` (the certificate). This module holds the server
(on ``tests/fakes/server.py``), authentication, routing, fault injection and the request log.

Not modelled: escalation over time (an incident stays with level 1), date ranges of the incident
list, priorities, merges, cancelling responder requests, the Events API, rate limits other than
those queued.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.pagerduty import paging
from tests.fakes.pagerduty.errors import (
    PDError,
    access_denied,
    invalid,
    not_found,
    rate_limited,
    server_error,
    unauthorized,
)
from tests.fakes.pagerduty.model import Account, Incident, Json, User
from tests.fakes.pagerduty.tls import client_context, make_self_signed, server_context
from tests.fakes.pagerduty.webhooks import WebhookSender
from tests.fakes.server import ThreadedServer

__all__ = ["ACCEPT", "PagerDutyFake"]

ACCEPT = "application/vnd.pagerduty+json;version=2"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class _Fault:
    error: PDError
    method: str | None
    path: str | None

    def applies(self, method: str, path: str) -> bool:
        return self.method in (None, method) and (self.path is None or self.path in path)


class PagerDutyFake(ThreadedServer):
    _thread_name = "pagerduty-fake"

    def __init__(
        self,
        api_token: str = "pd-test-token",  # noqa: S107
        *,
        read_only_token: str = "pd-read-only-token",  # noqa: S107
        from_email: str = "opsbot@example.com",
    ) -> None:
        super().__init__()
        self.api_token = api_token
        self.read_only_token = read_only_token
        self.from_email = from_email
        self.account = Account()
        self.account.add_user(from_email, "opsbot")
        self.clock: Callable[[], datetime] = _now  # "now" for on-calls and new incidents
        self._lock = threading.RLock()
        self._requests: list[Json] = []
        self._faults: deque[_Fault] = deque()
        self._bugs: list[str] = []
        self._dir: Path | None = None
        self._cert: Path | None = None
        self._key: Path | None = None
        self._webhooks = WebhookSender(self._lock)

    # -- lifecycle ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="pagerduty-fake-"))
        self._cert, self._key = make_self_signed(self._dir)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._cert is None or self._key is None:
            raise RuntimeError("PagerDutyFake: no certificate")
        return server_context(self._cert, self._key)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _on_start(self) -> None:
        await self._webhooks.start()

    async def _on_stop(self) -> None:
        await self._webhooks.stop()

    def _cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def url(self) -> str:
        """The REST API base URL, ``https://127.0.0.1:<port>``."""
        return super().url

    @property
    def cert_path(self) -> Path:
        """The self-signed certificate (PEM), to trust as a CA file."""
        if self._cert is None:
            raise RuntimeError("PagerDutyFake not started")
        return self._cert

    def client_ssl_context(self) -> ssl.SSLContext:
        return client_context(self.cert_path)

    # -- what tests seed and drive ----------------------------------------------------------------

    def add_user(self, email: str, name: str | None = None) -> Json:
        with self._lock:
            return self.account.add_user(email, name).ref(self._api_url)

    def add_incident(
        self,
        incident_id: str | None = None,
        title: str = "Fraud scorer errors",
        *,
        status: str = "triggered",
        service: str = "fraud-scorer",
        urgency: str = "high",
        incident_key: str | None = None,
        number: int | None = None,
    ) -> Json:
        """A new incident (its ``GET`` shape). No webhook: PagerDuty opened it, not a change."""
        with self._lock:
            incident = self.account.add_incident(
                incident_id,
                title,
                status=status,
                service=service,
                urgency=urgency,
                incident_key=incident_key,
                number=number,
                now=self.clock(),
            )
            return incident.as_json(self._api_url)

    def change_status(self, incident_id: str, status: str, *, by: str | None = None) -> Json:
        """A person acknowledges or resolves in PagerDuty itself: the webhook goes out too."""
        with self._lock:
            user = self.account.requester(by or self.from_email)
            incident, changed = self.account.set_status(incident_id, status, user, self.clock())
            if changed:
                self._emit(f"incident.{status}", incident, user)
            return incident.as_json(self._api_url)

    def add_policy(self, name: str, policy_id: str | None = None) -> Json:
        """An escalation policy with no one on call yet (its reference)."""
        with self._lock:
            return self.account.add_policy(name, policy_id).ref(self._api_url)

    def add_service(
        self, name: str, service_id: str | None = None, *, policy_id: str | None = None
    ) -> Json:
        """A service paging through ``policy_id`` (a new policy "<name> on-call" if None)."""
        with self._lock:
            policy = self.account.policies[policy_id] if policy_id is not None else None
            return self.account.add_service(name, service_id, policy=policy).as_json(self._api_url)

    def add_oncall(
        self,
        policy_id: str,
        email: str,
        name: str | None = None,
        *,
        level: int = 1,
        start: datetime | None = None,
        end: datetime | None = None,
        schedule: str | None = None,
    ) -> None:
        """``email`` (added as a user if new) is on call on ``level`` of the policy from
        ``start`` to ``end`` (None: open-ended), through ``schedule`` (a name) or directly."""
        with self._lock:
            if email.lower() not in self.account.users:
                self.account.add_user(email, name)
            self.account.add_shift(
                policy_id, email, level=level, start=start, end=end, schedule=schedule
            )

    def incident(self, incident_id: str) -> Json:
        with self._lock:
            return self.account.get(incident_id).as_json(self._api_url)

    def incidents(self) -> list[Json]:
        """Every incident, oldest first."""
        with self._lock:
            found = sorted(self.account.incidents.values(), key=lambda i: i.number)
            return [i.as_json(self._api_url) for i in found]

    def details(self, incident_id: str) -> str | None:
        """The ``body.details`` an incident was created with."""
        with self._lock:
            return self.account.get(incident_id).details

    def notes(self, incident_id: str) -> list[Json]:
        with self._lock:
            return [n.as_json(self._api_url) for n in self.account.get(incident_id).notes]

    def requests(self, method: str | None = None, path: str | None = None) -> list[Json]:
        """Every request answered, oldest first: method, path, status, from, auth, accept, body."""
        with self._lock:
            return [
                copy.deepcopy(r)
                for r in self._requests
                if method in (None, r["method"]) and path in (None, r["path"])
            ]

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` matching requests (``path``: a substring) answer ``status``."""
        with self._lock:
            self._faults.extend(_Fault(server_error(status), method, path) for _ in range(count))

    def rate_limit_next(
        self,
        count: int = 1,
        *,
        retry_after: float = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        with self._lock:
            self._faults.extend(
                _Fault(rate_limited(retry_after), method, path) for _ in range(count)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def webhook_to(self, url: str, secret: str) -> None:
        """Send every later status change and note to ``url`` as a signed v3 webhook."""
        self._webhooks.to(url, secret)

    def webhooks(self) -> list[Json]:
        """Deliveries so far: event_type, incident_id, status (None: no answer), error, body."""
        return self._webhooks.deliveries()

    def fake_errors(self) -> list[str]:
        """Exceptions raised inside the fake itself (answered as 500); should be []."""
        with self._lock:
            return list(self._bugs)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise AssertionError(f"{name} not true within {timeout}s; {self.webhooks()}")
            time.sleep(0.01)

    @property
    def _api_url(self) -> str:
        return self._url or "https://api.pagerduty.com"

    # -- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method, path = request.method, request.path
        raw = await request.read()
        record: Json = {
            "method": method,
            "path": path,
            "query": {
                k: v[0] if len(v) == 1 else v
                for k in request.query
                if (v := request.query.getall(k))
            },
            "from": request.headers.get("From"),
            "accept": request.headers.get("Accept"),
            "authorization_ok": False,
            "body": None,
            "at": time.time(),
        }
        headers: dict[str, str] = {}
        try:
            with self._lock:
                status, body = self._serve(method, path, request, raw, record)
        except PDError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        except Exception as exc:  # a bug in the fake: answer 500 and keep it for the test
            status, body = 500, server_error().body()
            with self._lock:
                self._bugs.append(f"{method} {path}: {type(exc).__name__}: {exc}")
        record["status"] = status
        with self._lock:
            self._requests.append(record)
        return web.json_response(body, status=status, headers=headers)

    def _serve(
        self, method: str, path: str, request: web.Request, raw: bytes, record: Json
    ) -> tuple[int, Json]:
        headers = request.headers
        token = _token(headers.get("Authorization", ""))
        if token not in (self.api_token, self.read_only_token):
            raise unauthorized()
        record["authorization_ok"] = True
        if method in WRITES and token == self.read_only_token:
            raise access_denied()
        for fault in self._faults:
            if fault.applies(method, path):
                self._faults.remove(fault)
                raise fault.error
        parts = path.strip("/").split("/")
        body = _json_body(raw) if method in WRITES else None
        record["body"] = body
        paged = self._paging(method, parts, request, body)
        if paged is not None:
            return paged
        if len(parts) < 2 or parts[0] != "incidents" or len(parts) > 3:
            raise not_found()
        incident_id = parts[1]
        if len(parts) == 2 and method == "GET":
            return 200, {"incident": self._incident_json(self.account.get(incident_id))}
        if len(parts) == 2 and method == "PUT":
            return 200, {"incident": self._update(incident_id, headers.get("From"), body)}
        if len(parts) == 3 and parts[2] == "notes" and method == "GET":
            notes = self.account.get(incident_id).notes
            return 200, {"notes": [n.as_json(self._api_url) for n in notes]}
        if len(parts) == 3 and parts[2] == "notes" and method == "POST":
            return 201, {"note": self._note(incident_id, headers.get("From"), body)}
        raise not_found()

    def _paging(
        self, method: str, parts: list[str], request: web.Request, body: Any
    ) -> tuple[int, Json] | None:
        """The paging endpoints (``paging.py``); None for any other path."""
        api, query, now = self._api_url, request.query, self.clock()
        if parts == ["oncalls"] and method == "GET":
            return 200, paging.list_oncalls(self.account, api, query, now)
        if parts == ["users"] and method == "GET":
            return 200, paging.list_users(self.account, api, query)
        if len(parts) == 2 and parts[0] == "services" and method == "GET":
            return 200, paging.get_service(self.account, api, parts[1])
        if parts == ["incidents"] and method == "GET":
            return 200, paging.list_incidents(self.account, api, query)
        if parts == ["incidents"] and method == "POST":
            user = self.account.requester(request.headers.get("From"))
            incident = self.account.create_incident(paging.new_incident(body), now)
            self._emit("incident.triggered", incident, user)
            return 201, {"incident": self._incident_json(incident)}
        if len(parts) == 3 and parts[0] == "incidents" and parts[2] == "responder_requests":
            if method != "POST":
                raise not_found()
            incident = self.account.get(parts[1])  # 404 before 400, as PagerDuty
            self.account.requester(request.headers.get("From"))
            requester_id, message, targets = paging.responder_targets(body)
            asked = self.account.request_responders(
                incident.id, requester_id, message, targets, now
            )
            return 200, {"responder_request": asked.as_json(api, incident)}
        return None

    def _incident_json(self, incident: Incident) -> Json:
        return incident.as_json(self._api_url)

    def _update(self, incident_id: str, from_email: str | None, body: Any) -> Json:
        self.account.get(incident_id)  # 404 before 400, as PagerDuty
        user = self.account.requester(from_email)
        fields = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise invalid("Incident must be an object.")
        if fields.get("type") not in ("incident", "incident_reference"):
            raise invalid("Incident type must be incident or incident_reference.")
        unsupported = sorted(set(fields) - {"id", "type", "status", "urgency"})
        if unsupported:
            self._bugs.append(f"PUT /incidents/{incident_id}: the fake cannot change {unsupported}")
            raise invalid(f"opsbot's PagerDuty fake does not model {', '.join(unsupported)}.")
        if "status" not in fields and "urgency" not in fields:
            raise invalid("Nothing to change: give a status or an urgency.")
        if "urgency" in fields:
            self.account.set_urgency(incident_id, fields["urgency"], self.clock())
        if "status" not in fields:
            return self._incident_json(self.account.get(incident_id))
        incident, changed = self.account.set_status(
            incident_id, fields["status"], user, self.clock()
        )
        if changed:
            self._emit(f"incident.{incident.status}", incident, user)
        return self._incident_json(incident)

    def _note(self, incident_id: str, from_email: str | None, body: Any) -> Json:
        self.account.get(incident_id)
        user = self.account.requester(from_email)
        fields = body.get("note") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise invalid("Note must be an object.")
        incident = self.account.get(incident_id)
        note = self.account.add_note(incident_id, fields.get("content"), user, self.clock())
        extra: Json = {
            "incident": {
                "id": incident.id,
                "type": "incident_reference",
                "self": f"{self._api_url}/incidents/{incident.id}",
                "html_url": incident.as_json(self._api_url)["html_url"],
            },
            "id": note.id,
            "content": note.content,
            "trimmed": False,
            "type": "incident_note",
        }
        self._emit("incident.annotated", incident, user, data=extra)
        return note.as_json(self._api_url)

    # -- webhooks ---------------------------------------------------------------------------------

    def _emit(
        self, event_type: str, incident: Incident, user: User | None, data: Json | None = None
    ) -> None:
        agent = user.ref(self._api_url) if user is not None else None
        body = data if data is not None else incident.webhook_data(self._api_url)
        self._webhooks.emit(event_type, incident.id, agent, body)


def _now() -> datetime:
    return datetime.now(UTC)


def _token(header: str) -> str | None:
    scheme, _, rest = header.partition(" ")
    if scheme != "Token" or not rest.startswith("token="):
        return None
    return rest.removeprefix("token=").strip() or None


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(raw)
    raise invalid("The request body is not valid JSON.")
