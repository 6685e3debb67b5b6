"""The Kubernetes adapter: the only place opsbot meets the ``kubernetes`` client.

Reads what a rollout did, the way ``kubectl rollout history`` and ``kubectl rollout status`` do:
the ReplicaSets the Deployment controls (by ``ownerReferences`` uid, not just labels), numbered by
``deployment.kubernetes.io/revision``, and the Deployment's status against its spec.

For the actions it also reads and writes objects as the API server's own JSON (not the client's
models, which drop fields they do not know: a pod template patched back from a model could lose
them): Deployments and their ReplicaSets, the scale subresource, HPAs, CronJobs and Jobs. Writes
carry a precondition (a ``resourceVersion``, or a JSON-patch ``test``) where the action needs one;
the API server answers a lost race with 409 (or 422 for a failed ``test``), which comes back as
the error's ``status``. A write's answer shows the object before the controllers run.

The pods of a Deployment, their Warning events and a container's previous log (core/v1, for the
enrichment) are read by the ``PodReads`` mixin (bot/clients/kubernetes_pods.py); KServe
InferenceServices and Argo Rollouts are read and patched by the ``ServingObjects`` mixin
(bot/clients/kubernetes_custom.py).

Calls are synchronous (the caller runs them in a worker thread); each one carries
``_request_timeout``, and connection retries stop at two with no read retries, so a call returns
or fails within about the timeout. Failures come back as ``ExternalServiceError("kubernetes",
operation, status, detail)`` with a detail a person can act on.

The ``kubernetes`` package (~1 s and ~50 MB to import) loads when a client is built, not with
this module: the domain reads the types and helpers here wherever Kubernetes is not configured.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from bot.clients.kubernetes_custom import ServingObjects
from bot.clients.kubernetes_pods import POD_TEMPLATE_HASH, Json, PodReads
from bot.errors import ConfigError, ExternalServiceError

if TYPE_CHECKING:
    import urllib3
    from kubernetes.client import ApiClient, Configuration
    from kubernetes.client.exceptions import ApiException

SYSTEM = "kubernetes"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
MERGE_PATCH = "application/merge-patch+json"


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
    import urllib3

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


class KubeClient(PodReads, ServingObjects):
    """Talks to one cluster through ``api_client`` (whose connection pool ``close()`` frees).

    The class methods build the ``ApiClient`` with the retry policy above; one passed in keeps
    its own (the client's default retries a timed-out read three times).
    """

    def __init__(self, api_client: ApiClient, *, timeout_s: float = 5.0) -> None:
        from kubernetes.client import (
            AppsV1Api,
            AutoscalingV2Api,
            BatchV1Api,
            CoreV1Api,
            CustomObjectsApi,
        )

        self.api_client = api_client
        self.timeout_s = timeout_s
        self.apps = AppsV1Api(api_client)
        self.batch = BatchV1Api(api_client)
        self.autoscaling = AutoscalingV2Api(api_client)
        self.core = CoreV1Api(api_client)
        self.custom = CustomObjectsApi(api_client)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def _build(cls, configuration: Configuration, timeout_s: float) -> Self:
        from kubernetes.client import ApiClient

        configuration.retries = _retries()
        return cls(ApiClient(configuration), timeout_s=timeout_s)

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str], *, context: str | None = None, timeout_s: float = 5.0
    ) -> Self:
        """From a kubeconfig file (or a ``KUBECONFIG``-style list of them)."""
        from kubernetes.client import Configuration
        from kubernetes.config import ConfigException, load_kube_config

        # The client's config loaders carry no annotations: a typed name for this one.
        load: Callable[..., None] = load_kube_config
        configuration = Configuration()
        try:
            load(
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
        from kubernetes.client import Configuration
        from kubernetes.config import ConfigException, load_incluster_config

        load: Callable[..., None] = load_incluster_config
        configuration = Configuration()
        try:
            load(client_configuration=configuration)
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

    def with_timeout(self, timeout_s: float) -> Self:
        """The same cluster and connection pool, with ``timeout_s`` per call."""
        return type(self)(self.api_client, timeout_s=timeout_s)

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

    # -- objects as JSON, for the actions --------------------------------------------------------

    def read_deployment(self, namespace: str, name: str) -> Json:
        return self._json(
            "read_deployment",
            f"deployment {namespace}/{name}",
            self.apps.read_namespaced_deployment,
            name,
            namespace,
        )

    def replicasets(
        self, namespace: str, name: str, *, deployment: Mapping[str, Any] | None = None
    ) -> list[Json]:
        """The ReplicaSets the Deployment controls (by ``ownerReferences`` uid), oldest revision
        first; ``deployment`` (as just read) saves reading it again."""
        dep = deployment if deployment is not None else self.read_deployment(namespace, name)
        listed = self._json(
            "replicasets",
            f"replicasets of deployment {namespace}/{name}",
            self.apps.list_namespaced_replica_set,
            namespace,
            label_selector=selector_string((dep.get("spec") or {}).get("selector")),
        )
        uid = str(dep["metadata"]["uid"])
        owned = [
            rs
            for rs in listed.get("items") or []
            if any(
                ref.get("controller") and ref.get("uid") == uid
                for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]
        return sorted(owned, key=lambda rs: revision_of(rs) or 0)

    def json_patch_deployment(self, namespace: str, name: str, ops: list[Json]) -> Json:
        """An RFC 6902 patch (a ``test`` op in it makes it conditional: 422 when it fails)."""
        return self._json(
            "patch_deployment",
            f"deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            list(ops),  # a list is sent as application/json-patch+json
        )

    def patch_template_annotations(
        self,
        namespace: str,
        name: str,
        annotations: Mapping[str, str | None],
        *,
        resource_version: str,
    ) -> Json:
        """Set pod template annotations (``kubectl rollout restart``; None removes one), if the
        Deployment is still at ``resource_version`` (409 otherwise)."""
        body = {
            "metadata": {"resourceVersion": resource_version},
            "spec": {"template": {"metadata": {"annotations": dict(annotations)}}},
        }
        return self._json(
            "patch_deployment",
            f"deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            body,  # a dict is sent as a strategic merge patch
        )

    def read_scale(self, namespace: str, name: str) -> Json:
        """The Deployment's ``Scale`` (autoscaling/v1), with the Deployment's resourceVersion."""
        return self._json(
            "read_scale",
            f"deployment {namespace}/{name}",
            self.apps.read_namespaced_deployment_scale,
            name,
            namespace,
        )

    def patch_scale(
        self, namespace: str, name: str, replicas: int, resource_version: str | None
    ) -> Json:
        """Set the replica count through the scale subresource; with ``resource_version``, only
        if the Deployment is still at it (409 otherwise)."""
        body: Json = {"spec": {"replicas": int(replicas)}}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._json(
            "patch_scale",
            f"deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            body,
        )

    def find_hpa(self, namespace: str, deployment: str) -> Json | None:
        """The HorizontalPodAutoscaler (autoscaling/v2) whose ``scaleTargetRef`` is the
        Deployment, if any."""
        listed = self._json(
            "find_hpa",
            f"horizontalpodautoscalers in {namespace}",
            self.autoscaling.list_namespaced_horizontal_pod_autoscaler,
            namespace,
        )
        for hpa in listed.get("items") or []:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            group = str(ref.get("apiVersion") or "apps/v1").split("/")[0]
            kind, name = ref.get("kind"), ref.get("name")
            if (kind, name) == ("Deployment", deployment) and group in ("apps", "extensions"):
                return dict(hpa)
        return None

    def patch_hpa(
        self,
        namespace: str,
        name: str,
        *,
        min_replicas: int,
        max_replicas: int,
        resource_version: str | None,
    ) -> Json:
        """Set an HPA's bounds (a merge patch); with ``resource_version``, only if the HPA is
        still at it (409 otherwise)."""
        body: Json = {"spec": {"minReplicas": int(min_replicas), "maxReplicas": int(max_replicas)}}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._json(
            "patch_hpa",
            f"horizontalpodautoscaler {namespace}/{name}",
            self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            name,
            namespace,
            body,
            _content_type=MERGE_PATCH,
        )

    def read_cronjob(self, namespace: str, name: str) -> Json:
        return self._json(
            "read_cronjob",
            f"cronjob {namespace}/{name}",
            self.batch.read_namespaced_cron_job,
            name,
            namespace,
        )

    def create_job(self, namespace: str, body: Mapping[str, Any]) -> Json:
        """Create a Job; one that exists already is 409 (AlreadyExists)."""
        name = (body.get("metadata") or {}).get("name", "")
        return self._json(
            "create_job",
            f"job {namespace}/{name}",
            self.batch.create_namespaced_job,
            namespace,
            dict(body),
        )

    def read_job(self, namespace: str, name: str) -> Json:
        return self._json(
            "read_job", f"job {namespace}/{name}", self.batch.read_namespaced_job, name, namespace
        )

    # -- errors ---------------------------------------------------------------------------------

    def _json(
        self, operation: str, target: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> Json:
        """``fn``'s answer as the API server's JSON, read raw (``_preload_content=False``)."""

        def call(*, _request_timeout: float) -> Any:
            response = fn(*args, _preload_content=False, _request_timeout=_request_timeout, **kw)
            try:
                return response.data
            finally:
                response.release_conn()

        data = self._call(operation, target, call)
        try:
            answer = json.loads(data or b"null")
        except ValueError as exc:
            raise ExternalServiceError(
                SYSTEM, operation, None, f"{target}: the API server's answer is not JSON"
            ) from exc
        if not isinstance(answer, dict):
            raise ExternalServiceError(
                SYSTEM, operation, None, f"{target}: the API server's answer is not an object"
            )
        return answer

    def _call(
        self, operation: str, target: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

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
        import urllib3

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
    """A label selector (a ``V1LabelSelector``, or its JSON form) in the query form
    (``app=x,tier in (a,b)``)."""
    if selector is None:
        return ""
    if isinstance(selector, Mapping):
        labels = selector.get("matchLabels") or {}
        exprs = [
            (e.get("key"), e.get("operator"), e.get("values"))
            for e in selector.get("matchExpressions") or []
        ]
    else:
        labels = selector.match_labels or {}
        exprs = [(e.key, e.operator, e.values) for e in selector.match_expressions or []]
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    for key, operator, values in exprs:
        joined = ",".join(sorted(values or []))
        parts.append(
            {
                "In": f"{key} in ({joined})",
                "NotIn": f"{key} notin ({joined})",
                "Exists": str(key),
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(parts)


# -- the pod template, as the Deployment controller compares it ----------------------------------


def template_without_hash(template: Mapping[str, Any] | None) -> Json:
    """A ReplicaSet's pod template as a Deployment carries it: without the
    ``pod-template-hash`` label (what ``kubectl rollout undo`` patches back)."""
    t: Json = json.loads(json.dumps(template or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return t


def template_hash(template: Mapping[str, Any] | None) -> str:
    """A digest of a pod template that is equal for a Deployment and the ReplicaSet it made
    (the hash label, empty labels and a null ``creationTimestamp`` ignored)."""
    t = template_without_hash(template)
    meta = t.get("metadata")
    if isinstance(meta, dict):
        if not meta.get("labels"):
            meta.pop("labels", None)
        if meta.get("creationTimestamp") is None:
            meta.pop("creationTimestamp", None)
        if not meta:
            t.pop("metadata", None)
    text = json.dumps(t, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def template_images(template: Mapping[str, Any] | None) -> list[str]:
    """The images of a pod template's containers, in order."""
    spec = (template or {}).get("spec") or {}
    return [str(c["image"]) for c in spec.get("containers") or [] if c.get("image")]


def version_pins(obj: Mapping[str, Any]) -> Json:
    """What an approved plan pins of an object it will write: ``uid``, ``resource_version``
    and ``generation`` (JSON, for ``Plan.pinned``)."""
    meta = obj.get("metadata") or {}
    return {
        "uid": str(meta.get("uid") or ""),
        "resource_version": str(meta.get("resourceVersion") or ""),
        "generation": int(meta.get("generation") or 0),
    }


def revision_of(obj: Mapping[str, Any]) -> int | None:
    """``deployment.kubernetes.io/revision`` of a Deployment or ReplicaSet (JSON)."""
    return _revision((obj.get("metadata") or {}).get("annotations"))


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
    "Json",
    "KubeClient",
    "Revision",
    "RolloutReader",
    "RolloutStatus",
    "revision_of",
    "selector_string",
    "template_hash",
    "template_images",
    "template_without_hash",
    "version_pins",
]
