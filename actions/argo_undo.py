"""``undo_rollout``: ``kubectl argo rollouts undo [--to-revision N]``, pinned when approved.

Like the plugin: the ReplicaSets the Rollout controls (its selector, kept by controller uid),
the one whose ``rollout.argoproj.io/revision`` is N (default: the second newest), its pod
template without the ``rollouts-pod-template-hash`` label, sent as a JSON patch replacing
``/spec/template``; a template that already matches (Go's ``DeepDerivative``) is "skipped".
Unlike it, the patch starts with a ``test`` op on ``/metadata/resourceVersion`` (the API server
refuses with 422 if anything wrote the Rollout between the re-read and the PATCH), ``plan`` pins
the target template and the current one, and ``apply`` reports done when a retry finds the
Rollout at the target, and refuses when its template changed since the approval.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from actions.argo_rollouts import read_rollout
from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.k8s_common import kube_of
from bot.clients.kubernetes import Json, template_hash, template_images, version_pins
from bot.clients.kubernetes_serving import derivative, rollout_revision, rollout_template
from bot.errors import ExternalServiceError


class UndoRolloutParams(Params):
    namespace: str = Field(min_length=1, max_length=63, description="the Rollout's namespace")
    rollout: str = Field(min_length=1, max_length=253, description="the Argo Rollout's name")
    to_revision: int | None = Field(
        None, ge=1, description="the revision to go back to; default: the one before the newest"
    )


def _digest(template: Any) -> str:
    return template_hash(rollout_template(template))


def _at(rollout: Json, target: Json) -> bool:
    """The Rollout's template is the target's (what the API server defaulted aside)."""
    return derivative(
        rollout_template((rollout.get("spec") or {}).get("template")),
        rollout_template(target),
    )


class UndoRollout(Action[UndoRolloutParams]):
    name = "undo_rollout"
    remediates = True
    description = (
        "Roll an Argo Rollout's pod template back to an earlier revision (kubectl argo "
        "rollouts undo), only if it is still as it was when approved"
    )
    params_model = UndoRolloutParams

    def target(self, ctx: ActionContext, params: UndoRolloutParams) -> Target:
        return Target(params.namespace, f"rollout/{params.rollout}")

    def plan(self, ctx: ActionContext, params: UndoRolloutParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.rollout
        ref = f"{ns}/{name}"
        rollout = read_rollout(kube, ns, name)
        history = {
            n: rs
            for rs in kube.rollout_replicasets(ns, rollout)
            if (n := rollout_revision(rs)) is not None
        }
        known = ", ".join(str(n) for n in sorted(history)) or "none"
        if params.to_revision is None:
            if len(history) < 2:
                raise ActionRefused(
                    f"no revision of rollout {ref} to go back to (revisions {known})"
                )
            to = sorted(history)[-2]
        else:
            to = params.to_revision
            if to not in history:
                raise ActionRefused(
                    f"revision {to} of rollout {ref} not found (its history has revisions {known})"
                )
        target = (history[to].get("spec") or {}).get("template") or {}
        current = (rollout.get("spec") or {}).get("template") or {}
        pins = {
            **version_pins(rollout),
            "to_revision": to,
            "to_template": _digest(target),
            "from_template": _digest(current),
            "to_images": template_images(target),
            "from_images": template_images(current),
            "to_replicaset": str(history[to]["metadata"]["name"]),
        }
        images = ", ".join(pins["to_images"]) or "no image"
        if _at(rollout, target):
            return Plan(
                summary=f"rollout {ref} already runs the template of revision {to} ({images})",
                pinned=pins,
                noop=True,
            )
        now = ", ".join(pins["from_images"]) or "no image"
        return Plan(
            summary=f"Undo rollout {ref} to revision {to} ({images}; now {now})",
            lines=[
                f"template → revision {to} (ReplicaSet {pins['to_replicaset']}): {images}",
                f"applies only if {ref} is unchanged by then (resourceVersion "
                f"{pins['resource_version']}, generation {pins['generation']})",
            ],
            pinned=pins,
        )

    def apply(self, ctx: ActionContext, params: UndoRolloutParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.rollout
        ref = f"{ns}/{name}"
        pinned = plan.pinned
        rollout = read_rollout(kube, ns, name)
        owned = kube.rollout_replicasets(ns, rollout)
        target = next(
            (
                rs["spec"]["template"]
                for rs in owned
                if _digest((rs.get("spec") or {}).get("template")) == pinned["to_template"]
            ),
            None,
        )
        data = {
            "namespace": ns,
            "rollout": name,
            "to_revision": pinned["to_revision"],
            "images": list(pinned.get("to_images") or []),
        }
        if target is not None and _at(rollout, target):
            return Result(
                True,
                f"rollout {ref} already runs revision {pinned['to_revision']}'s "
                "template: nothing changed",
                data={**data, "already": True},
            )
        if _digest((rollout.get("spec") or {}).get("template")) != pinned.get("from_template"):
            raise ActionRefused(
                f"rollout {ref} changed since the undo was approved (resourceVersion "
                f"{pinned.get('resource_version')} → {rollout['metadata'].get('resourceVersion')}"
                "): ask for a new approval"
            )
        if target is None:
            raise ActionRefused(
                f"the ReplicaSet of revision {pinned['to_revision']} of rollout {ref} is gone"
            )
        version = str(rollout["metadata"]["resourceVersion"])
        ops: list[Json] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "replace", "path": "/spec/template", "value": rollout_template(target)},
        ]
        try:
            kube.json_patch_rollout(ns, name, ops)
        except ExternalServiceError as exc:
            if exc.status not in (409, 422):
                raise
            now = read_rollout(kube, ns, name)
            if _at(now, target):
                return Result(
                    True,
                    f"rollout {ref} already runs revision "
                    f"{pinned['to_revision']}'s template: nothing changed",
                    data={**data, "already": True},
                )
            if exc.status == 422 and now["metadata"].get("resourceVersion") == version:
                raise
            raise ActionRefused(
                f"rollout {ref} changed while it was being undone; nothing was changed: ask "
                "for a new approval"
            ) from exc
        return Result(
            True,
            f"Undid rollout {ref} to revision {pinned['to_revision']}'s template "
            f"({', '.join(data['images']) or 'no image'})",
            data=data,
        )
