"""What the Kubernetes actions share: the client (or a refusal), reading a Deployment or any
object, a missing one refused."""

from __future__ import annotations

from collections.abc import Callable

from actions.base import ActionContext, ActionRefused
from bot.clients.kubernetes import Json, KubeClient
from bot.errors import ExternalServiceError


def kube_of(ctx: ActionContext) -> KubeClient:
    if ctx.kube is None:
        raise ActionRefused("Kubernetes is not configured")
    return ctx.kube


def read_deployment(kube: KubeClient, ns: str, name: str) -> Json:
    """The Deployment's JSON; a missing one is a refusal a person can read."""
    try:
        return kube.read_deployment(ns, name)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(f"deployment {ns}/{name} not found") from exc
        raise


def read_or_refuse(read: Callable[[str, str], Json], what: str, ns: str, name: str) -> Json:
    """An object read through ``read``; a missing one is a refusal a person can read."""
    try:
        return read(ns, name)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(f"{what} {ns}/{name} not found") from exc
        raise
