"""A protocol-faithful fake of Airflow 2's stable REST API: a real HTTP server on 127.0.0.1.

    with AirflowApiFake() as airflow:
        airflow.add_dag("features_daily")
        client = AirflowClient(airflow.url, username=airflow.username, password=airflow.password)

It serves what opsbot uses, as Airflow 2.x (``api_connexion``) answers it:

- ``GET /api/v1/dags/{dag_id}``: the DAG (``is_paused``, ``is_active``, ...).
- ``POST /api/v1/dags/{dag_id}/dagRuns``: trigger a run. The DAG is looked up first (404 "DAG
  not found"), then the body: an object with ``dag_run_id``, ``logical_date`` (or the older
  ``execution_date``), ``conf`` (an object), ``note``; any other field is 400 "Unknown field."
  (read-only ones such as ``state`` included). A ``dag_run_id`` must match Airflow's default
  ``allowed_run_id_pattern``; without one it is ``manual__<logical date>``. A run id or a logical
  date the DAG has already is 409. A new run is ``queued``, ``run_type: manual``; the answer is
  200 (not 201) with the DAGRun.
- ``GET /api/v1/dags/{dag_id}/dagRuns`` and ``.../dagRuns/{dag_run_id}``.

Errors are ``application/problem+json``: ``{"detail", "status", "title", "type"}``. Every
endpoint needs credentials: HTTP basic (``basic_auth`` backend) or, when the fake has a
``token``, a bearer token; otherwise 401 with ``WWW-Authenticate: Basic``. A path the API does
not have is 404 before authentication, as Flask routes first.

Tests drive runs with ``set_state`` (queued → running → success | failed, with start and end
dates) or ``auto_progress`` (each GET of a run moves it one step), inject failures with
``fail_next``, and read ``requests`` (method, path, status).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.support.lifecycle import StartStop

__all__ = ["AirflowApiFake"]

Json = dict[str, Any]

VERSION = "2.10.5"
DOCS = f"https://airflow.apache.org/docs/apache-airflow/{VERSION}/stable-rest-api-ref.html"
ERROR_TYPES = {
    400: f"{DOCS}#section/Errors/BadRequest",
    401: f"{DOCS}#section/Errors/Unauthenticated",
    403: f"{DOCS}#section/Errors/PermissionDenied",
    404: f"{DOCS}#section/Errors/NotFound",
    405: f"{DOCS}#section/Errors/MethodNotAllowed",
    409: f"{DOCS}#section/Errors/AlreadyExists",
    500: f"{DOCS}#section/Errors/Unknown",
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
RUN_ID_PATTERN = r"^[A-Za-z0-9_.~:+-]+$"
STATES = ("queued", "running", "success", "failed")
WRITABLE = {"dag_run_id", "logical_date", "execution_date", "conf", "note"}
READ_ONLY = {
    "dag_id",
    "state",
    "start_date",
    "end_date",
    "run_type",
    "external_trigger",
    "last_scheduling_decision",
    "data_interval_start",
    "data_interval_end",
}
_DAG = re.compile(r"^/api/v1/dags/([^/]+)$")
_RUNS = re.compile(r"^/api/v1/dags/([^/]+)/dagRuns$")
_RUN = re.compile(r"^/api/v1/dags/([^/]+)/dagRuns/([^/]+)$")
NOT_FOUND_URL = (
    "The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again."
)


class ApiError(Exception):
    def __init__(
        self, status: int, detail: str | None, title: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.body: Json = {
            "detail": detail,
            "status": status,
            "title": title or TITLES.get(status, "Error"),
            "type": kind or ERROR_TYPES.get(status, "about:blank"),
        }


@dataclass
class _Fault:
    method: str | None
    path: str | None
    status: int

    def applies(self, method: str, path: str) -> bool:
        return self.method in (None, method) and (self.path is None or self.path in path)


def _iso(at: datetime) -> str:
    """As Airflow dumps dates: ISO 8601 with microseconds and ``+00:00``."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class AirflowApiFake(StartStop):
    def __init__(
        self,
        *,
        username: str = "opsbot",
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        self.username = username
        self.password = password or f"pw-{secrets.token_hex(8)}"
        self.token = token
        self._lock = threading.RLock()
        self._dags: dict[str, Json] = {}
        self._runs: dict[str, dict[str, Json]] = {}
        self._requests: list[tuple[str, str, int]] = []
        self._faults: deque[_Fault] = deque()
        self._auto: str | None = None
        self._clock: datetime | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> AirflowApiFake:
        if self._server is not None:
            raise RuntimeError("AirflowApiFake already started")
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="airflow-api-fake"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(10)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("AirflowApiFake not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- seeding and driving --------------------------------------------------------------------

    def set_clock(self, at: datetime | None) -> None:
        """Dates the fake writes come from ``at`` (None: the real clock)."""
        with self._lock:
            self._clock = at

    def now(self) -> datetime:
        with self._lock:
            return self._clock or datetime.now(UTC)

    def add_dag(self, dag_id: str, *, paused: bool = False, schedule: str | None = None) -> Json:
        with self._lock:
            self._dags[dag_id] = {
                "dag_id": dag_id,
                "dag_display_name": dag_id,
                "description": None,
                "file_token": secrets.token_hex(16),
                "fileloc": f"/opt/airflow/dags/{dag_id}.py",
                "has_import_errors": False,
                "has_task_concurrency_limits": False,
                "is_active": True,
                "is_paused": paused,
                "is_subdag": False,
                "max_active_runs": 16,
                "max_active_tasks": 16,
                "owners": ["airflow"],
                "root_dag_id": None,
                "schedule_interval": (
                    {"__type": "CronExpression", "value": schedule} if schedule else None
                ),
                "tags": [],
                "timetable_description": None,
            }
            self._runs.setdefault(dag_id, {})
            return copy.deepcopy(self._dags[dag_id])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        with self._lock:
            self._dags[dag_id]["is_paused"] = paused

    def set_state(self, dag_id: str, dag_run_id: str, state: str) -> Json:
        """Move a run on: ``running`` sets ``start_date``, ``success``/``failed`` ``end_date``."""
        if state not in STATES:
            raise ValueError(f"not a DAG run state: {state}")
        with self._lock:
            run = self._runs[dag_id][dag_run_id]
            now = _iso(self.now())
            if state != "queued" and run["start_date"] is None:
                run["start_date"] = now
            run["end_date"] = now if state in ("success", "failed") else None
            run["state"] = state
            return copy.deepcopy(run)

    def auto_progress(self, final: str | None = "success") -> None:
        """From now on each GET of an unfinished run moves it one step: queued → running →
        ``final`` (None: runs stay where tests put them)."""
        if final not in (None, "success", "failed"):
            raise ValueError(f"not a final state: {final}")
        with self._lock:
            self._auto = final

    def fail_next(
        self, n: int = 1, status: int = 500, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``n`` authenticated requests (of ``method``, to a path containing ``path``)
        fail with ``status`` and change nothing."""
        with self._lock:
            self._faults.extend(_Fault(method, path, status) for _ in range(n))

    # -- reading back ---------------------------------------------------------------------------

    def run(self, dag_id: str, dag_run_id: str) -> Json | None:
        with self._lock:
            found = self._runs.get(dag_id, {}).get(dag_run_id)
            return copy.deepcopy(found) if found is not None else None

    def runs(self, dag_id: str) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(r) for r in self._runs.get(dag_id, {}).values()]

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Every request so far as (method, path, status answered)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- the API --------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Json, dict[str, str]]:
        """The answer to one request: (status, JSON body, extra headers)."""
        with self._lock:
            try:
                route = self._route(method, path)
                self._authenticate(headers.get("authorization", ""))
                fault = next((f for f in self._faults if f.applies(method, path)), None)
                if fault is not None:
                    self._faults.remove(fault)
                    raise ApiError(fault.status, "injected fault")
                status, answer = route(body)
                extra: dict[str, str] = {}
            except ApiError as exc:
                status, answer = exc.status, exc.body
                extra = {"WWW-Authenticate": "Basic"} if exc.status == 401 else {}
            self._requests.append((method, path, status))
            return status, answer, extra

    def _route(self, method: str, path: str) -> Any:
        if m := _RUN.match(path):
            dag_id, run_id = unquote(m.group(1)), unquote(m.group(2))
            self._allow(method, "GET")
            return lambda body: (200, self._get_run(dag_id, run_id))
        if m := _RUNS.match(path):
            dag_id = unquote(m.group(1))
            self._allow(method, "GET", "POST")
            if method == "GET":
                return lambda body: (200, self._list_runs(dag_id))
            return lambda body: (200, self._post_run(dag_id, body))
        if m := _DAG.match(path):
            dag_id = unquote(m.group(1))
            self._allow(method, "GET")
            return lambda body: (200, copy.deepcopy(self._dag(dag_id)))
        raise ApiError(404, NOT_FOUND_URL, kind="about:blank")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(
                405, "The method is not allowed for the requested URL.", kind="about:blank"
            )

    def _authenticate(self, header: str) -> None:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except ValueError:
                user = password = ""
            same_user = secrets.compare_digest(user.encode(), self.username.encode())
            if same_user and secrets.compare_digest(password.encode(), self.password.encode()):
                return
        token = (self.token or "").encode()
        if scheme == "bearer" and token and secrets.compare_digest(value.encode(), token):
            return
        raise ApiError(401, None)

    def _dag(self, dag_id: str, detail: str | None = None) -> Json:
        dag = self._dags.get(dag_id)
        if dag is None:
            detail = detail or f"The DAG with dag_id: {dag_id} was not found"
            raise ApiError(404, detail, title="DAG not found")
        return dag

    def _get_run(self, dag_id: str, run_id: str) -> Json:
        run = self._runs.get(dag_id, {}).get(run_id)
        if run is None:
            raise ApiError(
                404,
                f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found",
                title="DAGRun not found",
            )
        if self._auto is not None and run["state"] not in ("success", "failed"):
            self.set_state(dag_id, run_id, "running" if run["state"] == "queued" else self._auto)
        return copy.deepcopy(run)

    def _list_runs(self, dag_id: str) -> Json:
        self._dag(dag_id)
        runs = [copy.deepcopy(r) for r in self._runs.get(dag_id, {}).values()]
        return {"dag_runs": runs, "total_entries": len(runs)}

    def _post_run(self, dag_id: str, raw: bytes) -> Json:
        self._dag(dag_id, f"DAG with dag_id: '{dag_id}' not found")
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise ApiError(
                400, f"Request body is not valid JSON: {exc}", kind="about:blank"
            ) from exc
        if not isinstance(body, dict):
            raise ApiError(400, f"{body!r} is not of type 'object'", kind="about:blank")
        if "conf" in body and not isinstance(body["conf"], dict):
            raise ApiError(
                400, f"{body['conf']!r} is not of type 'object' - 'conf'", kind="about:blank"
            )
        unknown = sorted(set(body) - WRITABLE)
        if unknown:
            raise ApiError(400, str({k: ["Unknown field."] for k in unknown}))
        given = body.get("logical_date", body.get("execution_date"))
        if given is not None:
            try:
                at = datetime.fromisoformat(str(given).replace("Z", "+00:00"))
            except ValueError as exc:
                raise ApiError(400, str({"logical_date": ["Not a valid datetime."]})) from exc
            if at.tzinfo is None:
                raise ApiError(400, str({"logical_date": ["Not a valid aware datetime."]}))
        else:
            at = self.now()
        logical = _iso(at)
        run_id = body.get("dag_run_id") or f"manual__{logical}"
        if not isinstance(run_id, str) or not re.match(RUN_ID_PATTERN, run_id):
            raise ApiError(
                400,
                f"The run_id provided '{run_id}' does not match the pattern '{RUN_ID_PATTERN}'",
            )
        runs = self._runs.setdefault(dag_id, {})
        for existing in runs.values():
            if existing["logical_date"] == logical:
                shown = at.astimezone(UTC).isoformat(sep=" ")
                raise ApiError(
                    409,
                    f"DAGRun with DAG ID: '{dag_id}' and DAGRun logical date: '{shown}' "
                    "already exists",
                )
        if run_id in runs:
            raise ApiError(
                409, f"DAGRun with DAG ID: '{dag_id}' and DAGRun ID: '{run_id}' already exists"
            )
        run: Json = {
            "conf": copy.deepcopy(body.get("conf") or {}),
            "dag_id": dag_id,
            "dag_run_id": run_id,
            "data_interval_end": logical,
            "data_interval_start": logical,
            "end_date": None,
            "execution_date": logical,
            "external_trigger": True,
            "last_scheduling_decision": None,
            "logical_date": logical,
            "note": body.get("note"),
            "run_type": "manual",
            "start_date": None,
            "state": "queued",
        }
        runs[run_id] = run
        return copy.deepcopy(run)


class _Handler(BaseHTTPRequestHandler):
    fake: AirflowApiFake
    protocol_version = "HTTP/1.1"
    timeout = 10
    disable_nagle_algorithm = True  # headers and body go in two writes

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, extra = self.fake.handle(self.command, path, headers, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        kind = "application/json" if status < 400 else "application/problem+json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass
