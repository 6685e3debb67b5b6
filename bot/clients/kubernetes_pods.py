"""Pods, their Warning events and their logs: what the cluster says about a Deployment's pods.

A mixin of ``KubeClient`` (bot/clients/kubernetes.py), which supplies the calls, their timeout and
the errors; kept apart because it reads another API group (core/v1) for another purpose (the
enrichment's ``workload`` source, not the actions). Everything comes back as the API server's
own JSON, for bot/enrich/workload.py to read:

    deployment ─> its ReplicaSets (by controller uid) ─> their pods
                  (``pod-template-hash in (...)``, kept by controller uid, at most MAX_PODS)
    namespace  ─> its Warning events (``type=Warning``, EVENT_PAGES pages of EVENT_PAGE at most)
    container  ─> the last lines of its previous instance's log (``previous``, ``tailLines``,
                  ``limitBytes``); None when there is no previous instance (the API server's
                  400 ``previous terminated container "c" in pod "p" not found``)

Needs, in the Role: ``list`` pods, ``get`` pods/log, ``list`` events (deploy/helm/opsbot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import ExternalServiceError

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api

POD_TEMPLATE_HASH = "pod-template-hash"
MAX_PODS = 200
EVENT_PAGE = 250
EVENT_PAGES = 4
NO_PREVIOUS = "previous terminated container"

Json = dict[str, Any]


@dataclass(frozen=True)
class PodSet:
    """A Deployment, the ReplicaSets it controls (oldest revision first) and their pods."""

    deployment: Json
    replicasets: list[Json]
    pods: list[Json]
    truncated: bool = False  # more than MAX_PODS pods: these are the first MAX_PODS


class PodReader(Protocol):
    """What the enrichment reads of a Deployment's pods (``KubeClient`` is one)."""

    def deployment_pods(self, namespace: str, deployment: str) -> PodSet: ...

    def warning_events(self, namespace: str) -> list[Json]: ...

    def previous_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int, limit_bytes: int
    ) -> str | None: ...


class _Client(Protocol):
    """What the mixin uses of ``KubeClient``."""

    core: CoreV1Api

    def read_deployment(self, namespace: str, name: str) -> Json: ...

    def replicasets(
        self, namespace: str, name: str, *, deployment: Mapping[str, Any] | None = None
    ) -> list[Json]: ...

    def _json(
        self, operation: str, target: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> Json: ...

    def _call(
        self, operation: str, target: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any: ...


class PodReads:
    """The reads above, as methods of ``KubeClient``."""

    def deployment_pods(self: _Client, namespace: str, deployment: str) -> PodSet:
        """The Deployment's pods: those its ReplicaSets control, whatever their labels say."""
        dep = self.read_deployment(namespace, deployment)
        owned = self.replicasets(namespace, deployment, deployment=dep)
        hashes = sorted(
            {
                str(labels[POD_TEMPLATE_HASH])
                for rs in owned
                if POD_TEMPLATE_HASH in (labels := rs["metadata"].get("labels") or {})
            }
        )
        if not hashes:
            return PodSet(dep, owned, [])
        listed = self._json(
            "deployment_pods",
            f"pods of deployment {namespace}/{deployment}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"{POD_TEMPLATE_HASH} in ({','.join(hashes)})",
            limit=MAX_PODS,
        )
        uids = {str(rs["metadata"]["uid"]) for rs in owned}
        pods = [
            pod
            for pod in listed.get("items") or []
            if any(
                ref.get("controller") and ref.get("uid") in uids
                for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
            )
        ]
        truncated = bool((listed.get("metadata") or {}).get("continue"))
        return PodSet(dep, owned, pods, truncated)

    def warning_events(self: _Client, namespace: str) -> list[Json]:
        """The namespace's Warning events, in the API server's order (not by time)."""
        found: list[Json] = []
        token = ""
        for _ in range(EVENT_PAGES):
            page = self._json(
                "warning_events",
                f"events in {namespace}",
                self.core.list_namespaced_event,
                namespace,
                field_selector="type=Warning",
                limit=EVENT_PAGE,
                **({"_continue": token} if token else {}),
            )
            found += page.get("items") or []
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                break
        return found

    def previous_log(
        self: _Client,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int,
        limit_bytes: int,
    ) -> str | None:
        """The last ``tail_lines`` lines (at most ``limit_bytes``) the container's previous
        instance wrote, as text (bytes that are not UTF-8 replaced); None if it had none."""

        def read(*, _request_timeout: float) -> bytes:
            # Raw (``_preload_content=False``): the urllib3 response, not the decoded text.
            response: Any = self.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                previous=True,
                tail_lines=tail_lines,
                limit_bytes=limit_bytes,
                _preload_content=False,
                _request_timeout=_request_timeout,
            )
            try:
                return bytes(response.data or b"")
            finally:
                response.release_conn()

        target = f"the previous log of {namespace}/{pod} container {container}"
        try:
            data: bytes = self._call("previous_log", target, read)
        except ExternalServiceError as exc:
            if exc.status == 400 and NO_PREVIOUS in exc.detail:
                return None
            raise
        return data[:limit_bytes].decode("utf-8", errors="replace")
