"""Custom resources of model serving: KServe ``InferenceService``s and Argo ``Rollout``s.

A mixin of ``KubeClient`` (bot/clients/kubernetes.py), which supplies the calls, their timeout
and the errors, through the client's ``CustomObjectsApi``. Objects come back as the API server's
JSON. Custom resources take merge patches (the client's default for them) and JSON patches
(``_content_type`` and a list body), never strategic merge patches (415).

    inferenceservice  get · merge patch (``metadata.resourceVersion`` in the body: 409 if stale)
    rollout           get · merge patch · JSON patch (a ``test`` op: 422 if it fails)
    rollout /status   merge patch (abort, promote: what ``kubectl argo rollouts`` sends)
    its ReplicaSets   listed by the Rollout's selector, kept by controller uid

Needs, in the Role: ``get``/``patch`` inferenceservices (serving.kserve.io), ``get``/``patch``
rollouts and ``patch`` rollouts/status (argoproj.io), ``list`` replicasets (apps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kubernetes.client import CustomObjectsApi

Json = dict[str, Any]

KSERVE = ("serving.kserve.io", "v1beta1", "inferenceservices")
ARGO = ("argoproj.io", "v1alpha1", "rollouts")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class _Client(Protocol):
    """What the mixin uses of ``KubeClient``."""

    custom: CustomObjectsApi

    def replicasets(
        self, namespace: str, name: str, *, deployment: Mapping[str, Any] | None = None
    ) -> list[Json]: ...

    def _json(
        self, operation: str, target: str, fn: Callable[..., Any], *args: Any, **kw: Any
    ) -> Json: ...


Resource = tuple[str, str, str]  # (group, version, plural)


def _get(
    client: _Client, resource: Resource, operation: str, target: str, ns: str, name: str
) -> Json:
    group, version, plural = resource
    return client._json(
        operation, target, client.custom.get_namespaced_custom_object,
        group, version, ns, plural, name,
    )  # fmt: skip


def _patch(
    client: _Client,
    resource: Resource,
    operation: str,
    target: str,
    ns: str,
    name: str,
    body: Json | list[Json],
    *,
    content_type: str = MERGE_PATCH,
    status: bool = False,
) -> Json:
    group, version, plural = resource
    call = (
        client.custom.patch_namespaced_custom_object_status
        if status
        else client.custom.patch_namespaced_custom_object
    )
    return client._json(
        operation, target, call, group, version, ns, plural, name, body,
        _content_type=content_type,
    )  # fmt: skip


class ServingObjects:
    """InferenceServices and Rollouts, as methods of ``KubeClient``."""

    # -- KServe ---------------------------------------------------------------------------------

    def read_inferenceservice(self: _Client, namespace: str, name: str) -> Json:
        target = f"inferenceservice {namespace}/{name}"
        return _get(self, KSERVE, "read_inferenceservice", target, namespace, name)

    def patch_inferenceservice(
        self: _Client, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Json:
        """A merge patch of the main object (``status`` in it is ignored by the API server)."""
        target = f"inferenceservice {namespace}/{name}"
        return _patch(self, KSERVE, "patch_inferenceservice", target, namespace, name, dict(body))

    # -- Argo Rollouts --------------------------------------------------------------------------

    def read_rollout(self: _Client, namespace: str, name: str) -> Json:
        return _get(self, ARGO, "read_rollout", f"rollout {namespace}/{name}", namespace, name)

    def patch_rollout(self: _Client, namespace: str, name: str, body: Mapping[str, Any]) -> Json:
        """A merge patch of the Rollout itself (its spec)."""
        target = f"rollout {namespace}/{name}"
        return _patch(self, ARGO, "patch_rollout", target, namespace, name, dict(body))

    def patch_rollout_status(
        self: _Client, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Json:
        """A merge patch of the Rollout's ``status`` subresource (404 where the CRD has none)."""
        target = f"rollout {namespace}/{name} status"
        return _patch(
            self, ARGO, "patch_rollout_status", target, namespace, name, dict(body), status=True
        )

    def json_patch_rollout(self: _Client, namespace: str, name: str, ops: list[Json]) -> Json:
        """An RFC 6902 patch of the Rollout (a ``test`` op makes it conditional: 422)."""
        target = f"rollout {namespace}/{name}"
        return _patch(
            self, ARGO, "patch_rollout", target, namespace, name, list(ops),
            content_type=JSON_PATCH,
        )  # fmt: skip

    def rollout_replicasets(
        self: _Client, namespace: str, rollout: Mapping[str, Any]
    ) -> list[Json]:
        """The ReplicaSets the Rollout (as just read) controls, by its selector and uid."""
        name = str((rollout.get("metadata") or {}).get("name") or "")
        return self.replicasets(namespace, name, deployment=rollout)
