"""A protocol-faithful Kubernetes API server for tests: a real HTTP server on 127.0.0.1.

The official ``kubernetes`` client talks to it through a kubeconfig the fake writes:

    with KubeApiFake() as kube:
        api = kubernetes.config.new_client_from_config(str(kube.write_kubeconfig(tmp / "kc")))
        AppsV1Api(api).read_namespaced_deployment("fraud-scorer", "ml")

It serves apps/v1 Deployments (with the scale subresource) and ReplicaSets, autoscaling/v2
HorizontalPodAutoscalers, batch/v1 Jobs and CronJobs, reads of core/v1 Pods (with their
``log``) and Events, which tests seed as the kubelet and the scheduler write them, and two custom
resources with their ``status`` subresource: KServe InferenceServices and Argo Rollouts
(``custom_kinds.py``, ``custom_controllers.py``, ``custom_controls.py``). It checks
what the API server checks (bearer token, names, selectors, required fields, immutable fields,
resourceVersion preconditions, content types, the three patch formats) and answers in its JSON
shapes, errors as ``Status`` objects. A Deployment controller and a Job controller run after
each write, so ReplicaSets, revisions and status behave as on a cluster (``controllers.py``);
tests hold, complete or fail rollouts and finish Jobs.

The parts, one module each: ``errors.py`` (Status errors), ``selectors.py``,
``patch.py`` (JSON, merge and strategic merge patches), ``kinds.py`` (resources and
defaults), ``validation.py``, ``store.py`` (CRUD, resourceVersions, garbage collection),
``replicasets.py`` and ``controllers.py`` (the Deployment controller), ``jobs.py``,
``logs.py`` (a pod's log), ``routes.py`` (paths and verbs), ``controls.py`` (what tests seed,
drive and read back).
This module holds the server (on ``tests/fakes/server.py``), authentication and fault injection.

RBAC: ``deny()`` takes single permissions away; ``KubeApiFake(grants=...)`` (or ``enforce()``)
allows only what the given Roles allow, every other request answered 403 Forbidden before it
reaches a handler, as the API server's authorizer does (``rbac.py``).

Not modelled: namespaces (every namespace exists), writes of Pods and Events (405), a kubelet
(pods change only when a test says so), watches, server-side apply (415).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiohttp import web

from tests.fakes.kubernetes.controllers import HOOKS
from tests.fakes.kubernetes.controls import KubeControls
from tests.fakes.kubernetes.custom_controls import CustomResourceControls
from tests.fakes.kubernetes.errors import KubeError, Resource, forbidden, injected, unauthorized
from tests.fakes.kubernetes.rbac import Grants, attributes
from tests.fakes.kubernetes.routes import Call, handle, parse
from tests.fakes.kubernetes.store import Store
from tests.fakes.server import ThreadedServer

__all__ = ["KubeApiFake"]

USER = "system:serviceaccount:opsbot:opsbot"


@dataclass
class _Fault:
    method: str | None
    path: str | None = None
    status: int = 0
    delay: float = 0.0

    def applies(self, method: str, path: str) -> bool:
        return self.method in (None, method) and (self.path is None or self.path in path)


class KubeApiFake(KubeControls, CustomResourceControls, ThreadedServer):
    _thread_name = "kube-api-fake"

    def __init__(
        self,
        token: str | None = None,
        *,
        grants: Grants | None = None,
        forbidden_log: Path | None = None,
    ) -> None:
        super().__init__()
        self.token = token or f"fake-{secrets.token_hex(12)}"
        self.store = Store(HOOKS)
        self._lock = self.store.lock
        self._requests: list[tuple[str, str, str | None]] = []
        self._faults: deque[_Fault] = deque()
        self._delays: deque[_Fault] = deque()
        self._denied: set[tuple[str, str, str | None]] = set()
        self._grants = grants
        self._forbidden: list[str] = []
        self._forbidden_log = forbidden_log  # refusals also appended here, one line each
        self._bugs: list[str] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=3 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """A kubeconfig for this server (bearer token, one context, current-context set)."""
        path = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "opsbot", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "opsbot", "namespace": namespace},
                }
            ],
            "current-context": "fake",
            "preferences": {},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type")
        mime = content_type.split(";", 1)[0].strip().lower() if content_type else None
        body = await request.read()
        delay = 0.0
        with self._lock:
            self._requests.append((request.method, request.path, mime))
            try:
                auth = request.headers.get("Authorization", "")
                if not secrets.compare_digest(auth.encode(), f"Bearer {self.token}".encode()):
                    raise unauthorized()
                self._enforce(request.method, request.path, dict(request.query))
                call = parse(request.method, request.path, dict(request.query), mime or "", body)
                self._authorize(call)
                delay = self._take(self._delays, request.method, request.path).delay
                fault = self._take(self._faults, request.method, request.path)
                if fault.status:
                    raise injected(fault.status)
                status, answer = handle(self.store, call)
                headers: dict[str, str] = {}
            except KubeError as exc:
                status, answer, headers = exc.code, exc.status(), exc.headers
            except Exception as exc:  # a bug in the fake: answer 500, keep it for the test
                self._bugs.append(f"{request.method} {request.path}: {type(exc).__name__}: {exc}")
                status, answer, headers = 500, injected(500).status(), {}
                answer["message"] = f"fake API server error: {type(exc).__name__}: {exc}"
            if isinstance(answer, bytes):  # a pod's log: text/plain, as the API server relays it
                payload, headers = answer, {**headers, "Content-Type": "text/plain"}
            else:
                payload = json.dumps(answer).encode()
                headers = {**headers, "Content-Type": "application/json"}
        if delay > 0 and self._stopping is not None:
            with contextlib.suppress(TimeoutError):  # stop() cuts the delay short
                await asyncio.wait_for(self._stopping.wait(), delay)
        return web.Response(body=payload, status=status, headers=headers)

    def _enforce(self, method: str, path: str, query: dict[str, str]) -> None:
        a = attributes(method, path, query)
        if self._grants is None or a is None or self._grants.allows(a):
            return
        where = f" in {a.namespace}" if a.namespace else ""
        refused = f"{a.verb} {a.full_resource}.{a.api_group}{where}"
        self._forbidden.append(refused)
        if self._forbidden_log is not None:
            with self._forbidden_log.open("a") as log:
                log.write(refused + "\n")
        res = Resource(a.api_group, a.version, a.resource, "")
        raise forbidden(res, a.name, a.verb, a.namespace, USER, a.subresource)

    def _authorize(self, call: Call) -> None:
        if call.kind is None:
            return
        res = call.kind.resource
        resource = f"{res.plural}/{call.subresource}" if call.subresource else res.plural
        for ns in (call.namespace or None, None):
            if (call.verb, resource, ns) in self._denied:
                raise forbidden(res, call.name, call.verb, call.namespace, USER, call.subresource)

    @staticmethod
    def _take(queue: deque[_Fault], method: str, path: str) -> _Fault:
        for fault in queue:
            if fault.applies(method, path):
                queue.remove(fault)
                return fault
        return _Fault(None)

    # -- fault injection and access -------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 500, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``n`` authenticated requests (of ``method``, to a path containing ``path``,
        if given) fail with ``status`` (a ``Status`` with the API server's reason for it) and
        change nothing."""
        with self._lock:
            self._faults.extend(_Fault(method, path, status=status) for _ in range(n))

    def delay_next(
        self, seconds: float, n: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``n`` requests (filtered like ``fail_next``) are carried out at once but
        answered ``seconds`` late: a client that times out cannot tell whether its write landed
        (it did)."""
        with self._lock:
            self._delays.extend(_Fault(method, path, delay=seconds) for _ in range(n))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """RBAC says no: ``deny("patch", "deployments/scale", "ml")`` answers 403 Forbidden."""
        with self._lock:
            self._denied.add((verb, resource, namespace))

    def enforce(self, grants: Grants | None) -> None:
        """Allow only what ``grants`` allow from now on (None: allow everything again)."""
        with self._lock:
            self._grants = grants

    @property
    def forbidden_requests(self) -> list[str]:
        """Requests the enforced Roles refused, as ``verb resource.group in namespace``."""
        with self._lock:
            return list(self._forbidden)

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        """Every request so far as (method, path, content type without parameters)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fake_errors(self) -> list[str]:
        """Exceptions raised inside the fake itself (answered as 500); should be []."""
        with self._lock:
            return list(self._bugs)
