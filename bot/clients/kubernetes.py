"""The Kubernetes adapter: the only place opsbot meets the ``kubernetes`` client.

Reads what a rollout did, the way ``kubectl rollout history`` and ``kubectl rollout status`` do:
the ReplicaSets the Deployment controls (by ``ownerReferences`` uid, not just labels), numbered by
``deployment.kubernetes.io/revision``, and the Deployment's status against its spec.

Calls are synchronous (the caller runs them in a worker thread); each one carries
``_request_timeout``, and connection retries stop at two with no read retries, so a call returns
or fails within about the timeout. Failures come back as ``ExternalServiceError("kubernetes",
operation, status, detail)`` with a detail a person can act on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self

import urllib3
from kubernetes.client import ApiClient, AppsV1Api, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException, load_incluster_config, load_kube_config

from bot.errors import ConfigError, ExternalServiceError

SYSTEM = "kubernetes"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"

# The client's config loaders and ``ApiClient.close`` carry no annotations; typed names for them.
_load_kube_config: Callable[..., None] = load_kube_config
_load_incluster_config: Callable[..., None] = load_incluster_config


@dataclass(frozen=True)
class Revision:
    """One entry of a Deployment's rollout history: a ReplicaSet it controls."""

    revision: int
    replicaset: str
    created_at: datetime  # aware, UTC
    images: list[str]
    change_cause: str | None
    current: bool


@dataclass(frozen=True)
class RolloutStatus:
    desired: int
    updated: int
    ready: int
    available: int
    complete: bool
    failed: bool
    message: str  # as ``kubectl rollout status`` says it


class RolloutReader(Protocol):
    def rollout_history(self, namespace: str, deployment: str) -> list[Revision]: ...

    def rollout_status(self, namespace: str, deployment: str) -> RolloutStatus: ...


def _retries() -> urllib3.Retry:
    # Connection failures are retried (nothing reached the server); reads and statuses are not:
    # the caller decides, and a timed-out call must not quietly take three times the timeout.
    return urllib3.Retry(
        total=2,
        connect=2,
        read=False,
        redirect=0,
        status=0,
        other=0,
        backoff_factor=0.1,
        respect_retry_after_header=False,
    )


class KubeClient:
    """Talks to one cluster through ``api_client`` (whose connection pool ``close()`` frees).

    The class methods build the ``ApiClient`` with the retry policy above; one passed in keeps
    its own (the client's default retries a timed-out read three times).
    """

    def __init__(self, api_client: ApiClient, *, timeout_s: float = 5.0) -> None:
        self.api_client = api_client
        self.timeout_s = timeout_s
        self.apps = AppsV1Api(api_client)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def _build(cls, configuration: Configuration, timeout_s: float) -> Self:
        configuration.retries = _retries()
        return cls(ApiClient(configuration), timeout_s=timeout_s)

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str], *, context: str | None = None, timeout_s: float = 5.0
    ) -> Self:
        """From a kubeconfig file (or a ``KUBECONFIG``-style list of them)."""
        configuration = Configuration()
        try:
            _load_kube_config(
                config_file=os.fspath(path),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, ValueError) as exc:
            raise ConfigError(f"cannot use kubeconfig {os.fspath(path)}: {exc}") from exc
        return cls._build(configuration, timeout_s)

    @classmethod
    def in_cluster(cls, *, timeout_s: float = 5.0) -> Self:
        """From the pod's service account (``KUBERNETES_SERVICE_HOST`` and the mounted token)."""
        configuration = Configuration()
        try:
            _load_incluster_config(client_configuration=configuration)
        except (ConfigException, OSError) as exc:
            raise ConfigError(f"cannot use the in-cluster service account: {exc}") from exc
        return cls._build(configuration, timeout_s)

    @classmethod
    def from_environment(
        cls, *, timeout_s: float = 5.0, environ: Mapping[str, str] | None = None
    ) -> Self | None:
        """``KUBECONFIG`` if set, else in-cluster if ``KUBERNETES_SERVICE_HOST`` is set, else
        None: Kubernetes is not configured."""
        env = os.environ if environ is None else environ
        if env.get("KUBECONFIG"):
            return cls.from_kubeconfig(env["KUBECONFIG"], timeout_s=timeout_s)
        if env.get("KUBERNETES_SERVICE_HOST"):
            return cls.in_cluster(timeout_s=timeout_s)
        return None

    def close(self) -> None:
        """Release the connection pool."""
        close: Callable[[], None] = self.api_client.close
        close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reads ----------------------------------------------------------------------------------

    def rollout_history(self, namespace: str, deployment: str) -> list[Revision]:
        """The Deployment's ReplicaSets as revisions, oldest first; ``current`` marks the one
        the Deployment is at."""
        op, target = "rollout_history", f"deployment {namespace}/{deployment}"
        dep = self._call(op, target, self.apps.read_namespaced_deployment, deployment, namespace)
        replicasets = self._call(
            op,
            f"replicasets of {target}",
            self.apps.list_namespaced_replica_set,
            namespace,
            label_selector=selector_string(dep.spec.selector),
        )
        uid = str(dep.metadata.uid)
        current = _revision(dep.metadata.annotations)
        found = []
        for rs in replicasets.items:
            number = _revision(rs.metadata.annotations)
            if number is None or not _controlled_by(rs.metadata.owner_references, uid):
                continue
            notes = rs.metadata.annotations or {}
            containers = rs.spec.template.spec.containers if rs.spec.template.spec else []
            cause = notes.get(CHANGE_CAUSE)
            found.append(
                Revision(
                    revision=number,
                    replicaset=str(rs.metadata.name),
                    created_at=_utc(rs.metadata.creation_timestamp),
                    images=[str(c.image) for c in containers or [] if c.image],
                    change_cause=str(cause) if cause else None,
                    current=number == current,
                )
            )
        return sorted(found, key=lambda r: r.revision)

    def rollout_status(self, namespace: str, deployment: str) -> RolloutStatus:
        """Where the rollout is, in the words ``kubectl rollout status`` uses."""
        dep = self._call(
            "rollout_status",
            f"deployment {namespace}/{deployment}",
            self.apps.read_namespaced_deployment,
            deployment,
            namespace,
        )
        spec, status = dep.spec, dep.status
        desired = int(spec.replicas if spec.replicas is not None else 1)
        updated = int(status.updated_replicas or 0) if status else 0
        ready = int(status.ready_replicas or 0) if status else 0
        available = int(status.available_replicas or 0) if status else 0
        total = int(status.replicas or 0) if status else 0
        observed = int(status.observed_generation or 0) if status else 0
        conditions = (status.conditions or []) if status else []
        progressing = next((c for c in conditions if c.type == "Progressing"), None)
        name = f'deployment "{deployment}"'
        waiting = f"Waiting for {name} rollout to finish: "
        complete = failed = False
        if int(dep.metadata.generation or 0) > observed:
            message = "Waiting for deployment spec update to be observed..."
        elif progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
            failed, message = True, f"{name} exceeded its progress deadline"
        elif updated < desired:
            message = f"{waiting}{updated} out of {desired} new replicas have been updated..."
        elif total > updated:
            message = f"{waiting}{total - updated} old replicas are pending termination..."
        elif available < updated:
            message = f"{waiting}{available} of {updated} updated replicas are available..."
        else:
            complete, message = True, f"{name} successfully rolled out"
        return RolloutStatus(desired, updated, ready, available, complete, failed, message)

    # -- errors ---------------------------------------------------------------------------------

    def _call(
        self, operation: str, target: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        try:
            return fn(*args, _request_timeout=self.timeout_s, **kw)
        except ApiException as exc:
            raise ExternalServiceError(
                SYSTEM, operation, exc.status or None, self._api_detail(target, exc)
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ExternalServiceError(
                SYSTEM, operation, None, self._transport_detail(target, exc)
            ) from exc

    def _api_detail(self, target: str, exc: ApiException) -> str:
        message = ""
        try:
            body = json.loads(exc.body) if exc.body else {}
            message = str(body.get("message", "")) if isinstance(body, dict) else ""
        except ValueError:
            message = str(exc.body)[:200]
        message = message or str(exc.reason or "")
        host = self.api_client.configuration.host
        if exc.status == 404:
            return f"{target} not found"
        if exc.status == 401:
            return f"the API server at {host} refused the credentials (401 Unauthorized)"
        if exc.status == 403:
            return f"not allowed: {message}"
        return f"{target}: {exc.status} {exc.reason or ''}: {message}".replace(" : ", ": ")

    def _transport_detail(self, target: str, exc: BaseException) -> str:
        reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
        host = self.api_client.configuration.host
        # NewConnectionError is a ConnectTimeoutError in urllib3, but nothing answered at all.
        timed_out = (urllib3.exceptions.TimeoutError, TimeoutError)
        if isinstance(reason, timed_out) and not isinstance(
            reason, urllib3.exceptions.NewConnectionError
        ):
            return f"{target}: no answer from {host} within {self.timeout_s:g}s"
        return f"{target}: cannot reach {host}: {type(reason).__name__}: {reason}"


def selector_string(selector: Any) -> str:
    """A ``V1LabelSelector`` in the query form (``app=x,tier in (a,b)``)."""
    if selector is None:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(sorted(expr.values or []))
        parts.append(
            {
                "In": f"{expr.key} in ({values})",
                "NotIn": f"{expr.key} notin ({values})",
                "Exists": str(expr.key),
                "DoesNotExist": f"!{expr.key}",
            }[expr.operator]
        )
    return ",".join(parts)


def _revision(annotations: Mapping[str, str] | None) -> int | None:
    try:
        return int((annotations or {})[REVISION])
    except (KeyError, ValueError):
        return None


def _controlled_by(owner_references: Any, uid: str) -> bool:
    return any(ref.controller and ref.uid == uid for ref in owner_references or [])


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


__all__ = [
    "KubeClient",
    "Revision",
    "RolloutReader",
    "RolloutStatus",
    "selector_string",
]
