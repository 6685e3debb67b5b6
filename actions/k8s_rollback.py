"""``rollback_deployment``: ``kubectl rollout undo``, safe to approve and to retry.

kubectl's rollback is client side and sends no precondition: run twice, the second "undo" rolls
back to the bad version. Here ``plan`` pins the target revision (number and template digest), the
current one and the Deployment's version, and ``apply``:

1. re-reads the Deployment; if it already runs the target template, reports done and patches
   nothing (a retry after a success, or after a crash that followed the PATCH);
2. refuses if its pod template changed since the plan (another deploy; a pause too): the
   approval was for a rollback from a template that is no longer there;
3. JSON-patches ``/spec/template`` (the target ReplicaSet's, without ``pod-template-hash``) and
   ``/metadata/annotations`` as kubectl does, after a ``test`` op on
   ``/metadata/resourceVersion``: the API server itself refuses (422; 409 alike) if anything
   wrote the Deployment between the re-read and the PATCH.

Writes that leave the template alone do not void the approval: the controllers' status updates
(every few seconds on a live cluster) and scaling (an HPA under load) change the resourceVersion,
not what the rollback is about. The ``test`` op then carries the resourceVersion just read.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.k8s_common import kube_of, read_deployment
from bot.clients.kubernetes import (
    CHANGE_CAUSE,
    REVISION,
    Json,
    revision_of,
    template_hash,
    template_images,
    template_without_hash,
    version_pins,
)
from bot.errors import ExternalServiceError

# Deployment annotations kubectl keeps from the Deployment rather than the ReplicaSet.
KEPT_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


class RollbackParams(Params):
    namespace: str = Field(min_length=1, max_length=63, description="the Deployment's namespace")
    deployment: str = Field(min_length=1, max_length=253, description="the Deployment's name")
    to_revision: int | None = Field(
        None, ge=1, description="the revision to go back to; default: the one before the current"
    )


class RollbackDeployment(Action[RollbackParams]):
    name = "rollback_deployment"
    remediates = True
    description = (
        "Roll a Deployment back to an earlier revision (kubectl rollout undo), only if it is "
        "still as it was when the rollback was approved"
    )
    params_model = RollbackParams

    def target(self, ctx: ActionContext, params: RollbackParams) -> Target:
        return Target(params.namespace, f"deployment/{params.deployment}")

    def plan(self, ctx: ActionContext, params: RollbackParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.deployment
        ref = f"{ns}/{name}"
        dep = read_deployment(kube, ns, name)
        if (dep.get("spec") or {}).get("paused"):
            raise ActionRefused(
                f"{ref} is paused: a paused Deployment cannot be rolled back; resume it first"
            )
        current = revision_of(dep)
        if current is None:
            raise ActionRefused(f"{ref} has no rollout history yet")
        replicasets = kube.replicasets(ns, name, deployment=dep)
        history = {n: rs for rs in replicasets if (n := revision_of(rs)) is not None}
        known = ", ".join(str(n) for n in sorted(history)) or "none"
        if params.to_revision is None:
            older = [n for n in history if n < current]
            if not older:
                raise ActionRefused(f"{ref} has no revision before {current} to roll back to")
            to = max(older)
        else:
            to = params.to_revision
            if to == current:
                raise ActionRefused(f"{ref} is at revision {to} already: nothing to roll back")
            if to not in history:
                raise ActionRefused(
                    f"revision {to} of {ref} not found (its history has revisions {known})"
                )
        target_rs = history[to]
        template = (dep.get("spec") or {}).get("template")
        target_template = (target_rs.get("spec") or {}).get("template")
        if template_hash(template) == template_hash(target_template):
            raise ActionRefused(f"{ref} already runs the template of revision {to}")
        from_images, to_images = template_images(template), template_images(target_template)
        cause = (target_rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
        pins = version_pins(dep)
        lines = [
            f"template → revision {to}: {_images(to_images)} (now revision {current}: "
            f"{_images(from_images)})",
            f"ReplicaSet {target_rs['metadata']['name']} is scaled up again; the rollout shows "
            f"as revision {max(history) + 1}",
            f"replicas stay {(dep.get('spec') or {}).get('replicas', 1)}",
        ]
        if cause:
            lines.append(f"change-cause of revision {to}: {cause}")
        lines.append(
            f"applies only if {ref} is unchanged by then (resourceVersion "
            f"{pins['resource_version']}, generation {pins['generation']})"
        )
        return Plan(
            summary=(
                f"Roll back {ref} from revision {current} ({_images(from_images)}) to revision "
                f"{to} ({_images(to_images)})"
            ),
            lines=lines,
            pinned={
                **pins,
                "from_revision": current,
                "to_revision": to,
                "from_template": template_hash(template),
                "to_template": template_hash(target_template),
                "from_images": from_images,
                "to_images": to_images,
                "to_replicaset": str(target_rs["metadata"]["name"]),
            },
        )

    def apply(self, ctx: ActionContext, params: RollbackParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.deployment
        ref = f"{ns}/{name}"
        pinned = plan.pinned
        dep = read_deployment(kube, ns, name)
        if _at_target(dep, pinned):
            return _already(ref, dep, pinned)
        if (dep.get("spec") or {}).get("paused"):
            raise ActionRefused(
                f"{ref} was paused since the rollback was approved: resume it first"
            )
        if not _as_planned(dep, pinned):
            raise ActionRefused(
                f"{ref} changed since the rollback was approved (resourceVersion "
                f"{pinned.get('resource_version')} → {dep['metadata'].get('resourceVersion')}, "
                f"now revision {revision_of(dep)}): ask for a new approval"
            )
        replicasets = kube.replicasets(ns, name, deployment=dep)
        target_rs = next(
            (
                rs
                for rs in replicasets
                if template_hash((rs.get("spec") or {}).get("template")) == pinned["to_template"]
            ),
            None,
        )
        if target_rs is None:
            raise ActionRefused(
                f"the ReplicaSet of revision {pinned['to_revision']} of {ref} is gone: "
                "nothing to roll back to"
            )
        version = str(dep["metadata"]["resourceVersion"])
        ops: list[Json] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {
                "op": "replace",
                "path": "/spec/template",
                "value": template_without_hash(target_rs["spec"]["template"]),
            },
            {"op": "add", "path": "/metadata/annotations", "value": _annotations(dep, target_rs)},
        ]
        try:
            patched = kube.json_patch_deployment(ns, name, ops)
        except ExternalServiceError as exc:
            if exc.status not in (409, 422):
                raise
            now = read_deployment(kube, ns, name)
            if _at_target(now, pinned):
                return _already(ref, now, pinned)
            if exc.status == 422 and now["metadata"].get("resourceVersion") == version:
                raise  # nothing raced: the patch itself is invalid
            raise ActionRefused(
                f"{ref} changed while it was being rolled back (resourceVersion {version} → "
                f"{now['metadata'].get('resourceVersion')}); nothing was changed: ask for a "
                "new approval"
            ) from exc
        revision = max((revision_of(rs) or 0 for rs in replicasets), default=0) + 1
        to, images = pinned["to_revision"], list(pinned.get("to_images") or [])
        return Result(
            True,
            f"Rolled back {ref} to the template of revision {to} ({_images(images)}), now "
            f"revision {revision}; the rollout is under way",
            data={
                "namespace": ns,
                "deployment": name,
                "from_revision": pinned["from_revision"],
                "to_revision": to,
                "revision": revision,
                "images": images,
                "previous_images": list(pinned.get("from_images") or []),
                "resource_version": patched.get("metadata", {}).get("resourceVersion"),
            },
        )


def _as_planned(dep: Json, pinned: dict[str, Any]) -> bool:
    """Still the Deployment the plan read, running the template it rolls back from."""
    if dep["metadata"].get("resourceVersion") == pinned.get("resource_version"):
        return True
    template = (dep.get("spec") or {}).get("template")
    return bool(
        dep["metadata"].get("uid") == pinned.get("uid")
        and template_hash(template) == pinned.get("from_template")
    )


def _at_target(dep: Json, pinned: dict[str, Any]) -> bool:
    return template_hash((dep.get("spec") or {}).get("template")) == pinned.get("to_template")


def _already(ref: str, dep: Json, pinned: dict[str, Any]) -> Result:
    to, images = pinned.get("to_revision"), list(pinned.get("to_images") or [])
    now = revision_of(dep)
    return Result(
        True,
        f"{ref} is already at revision {to}'s template ({_images(images)}, now revision {now}): "
        "nothing rolled back",
        data={
            "namespace": dep["metadata"].get("namespace"),
            "deployment": dep["metadata"].get("name"),
            "from_revision": pinned.get("from_revision"),
            "to_revision": to,
            "revision": now,
            "images": images,
            "already": True,
        },
    )


def _annotations(dep: Json, rs: Json) -> dict[str, str]:
    """kubectl's: the Deployment's own bookkeeping annotations, the rest from the ReplicaSet
    (``kubernetes.io/change-cause`` among them)."""
    mine = dep["metadata"].get("annotations") or {}
    kept = {k: v for k, v in mine.items() if k in KEPT_ANNOTATIONS}
    theirs = rs["metadata"].get("annotations") or {}
    kept.update({k: v for k, v in theirs.items() if k not in KEPT_ANNOTATIONS})
    return kept


def _images(images: list[str]) -> str:
    return ", ".join(images) or "no image"
