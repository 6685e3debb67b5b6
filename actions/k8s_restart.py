"""``restart_deployment``: ``kubectl rollout restart``, once per run.

kubectl sets ``kubectl.kubernetes.io/restartedAt`` in the pod template to the current time, so
each call restarts the pods again. Here the value is fixed in the plan (the plan's time), and the
run's idempotency key goes alongside it as ``opsbot/restart-key`` (a digest): a retry of the same
run, with the same plan or a new one, finds its own restart already there and patches nothing.

The patch (strategic merge, as kubectl's) carries the resourceVersion just read (409 when
something wrote the Deployment in between). A Deployment whose pod template changed since the plan
(a deploy: its pods are new anyway) is refused, as is one that is paused (it would not roll);
status updates and scaling do not void the approval.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.k8s_common import kube_of, read_deployment
from bot.clients.kubernetes import Json, template_hash, version_pins
from bot.errors import ExternalServiceError

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTART_KEY = "opsbot/restart-key"


class RestartParams(Params):
    namespace: str = Field(min_length=1, max_length=63, description="the Deployment's namespace")
    deployment: str = Field(min_length=1, max_length=253, description="the Deployment's name")


class RestartDeployment(Action[RestartParams]):
    name = "restart_deployment"
    remediates = True
    description = "Restart a Deployment's pods with a rolling update (kubectl rollout restart)"
    params_model = RestartParams

    def target(self, ctx: ActionContext, params: RestartParams) -> Target:
        return Target(params.namespace, f"deployment/{params.deployment}")

    def plan(self, ctx: ActionContext, params: RestartParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.deployment
        ref = f"{ns}/{name}"
        dep = read_deployment(kube, ns, name)
        spec = dep.get("spec") or {}
        if spec.get("paused"):
            raise ActionRefused(f"{ref} is paused: it would not restart; resume it first")
        key = restart_key(ctx.key)
        notes = _template_annotations(dep)
        if key and notes.get(RESTART_KEY) == key:
            return Plan(
                f"{ref} was already restarted by this run (at {notes.get(RESTARTED_AT)})",
                pinned={**version_pins(dep), "restarted_at": notes.get(RESTARTED_AT), "key": key},
                noop=True,
            )
        at = ctx.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pins = {**version_pins(dep), "template": template_hash(spec.get("template"))}
        lines = [
            f"{RESTARTED_AT}: {notes.get(RESTARTED_AT) or '(never)'} → {at}",
            f"all {spec.get('replicas', 1)} pods are replaced by a rolling update",
            f"applies only if {ref} is unchanged by then (resourceVersion "
            f"{pins['resource_version']}, generation {pins['generation']})",
        ]
        return Plan(
            f"Restart {ref} (rolling restart of {spec.get('replicas', 1)} pods)",
            lines=lines,
            pinned={**pins, "restarted_at": at, "key": key},
        )

    def apply(self, ctx: ActionContext, params: RestartParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.deployment
        ref = f"{ns}/{name}"
        pinned = plan.pinned
        at, key = str(pinned["restarted_at"]), str(pinned.get("key") or "")
        data: dict[str, Any] = {"namespace": ns, "deployment": name, "restarted_at": at}
        dep = read_deployment(kube, ns, name)
        if _done(dep, at, key):
            return Result(True, f"{ref} was already restarted at {at}", {**data, "already": True})
        if (dep.get("spec") or {}).get("paused"):
            raise ActionRefused(f"{ref} was paused since the restart was approved: resume it first")
        same = dep["metadata"].get("uid") == pinned.get("uid") and template_hash(
            (dep.get("spec") or {}).get("template")
        ) == pinned.get("template")
        if not same:
            raise ActionRefused(
                f"{ref} changed since the restart was approved (resourceVersion "
                f"{pinned.get('resource_version')} → {dep['metadata'].get('resourceVersion')}): "
                "ask for a new approval"
            )
        # Without a key, an earlier run's mark goes (None removes it): it is not this restart.
        notes: dict[str, str | None] = {RESTARTED_AT: at, RESTART_KEY: key or None}
        try:
            kube.patch_template_annotations(
                ns, name, notes, resource_version=str(dep["metadata"]["resourceVersion"])
            )
        except ExternalServiceError as exc:
            if exc.status == 409:
                raise ActionRefused(
                    f"{ref} changed while it was being restarted; nothing was changed: "
                    "ask for a new approval"
                ) from exc
            raise
        return Result(True, f"Restarted {ref} (restartedAt {at}); the rollout is under way", data)


def restart_key(key: str) -> str:
    """The digest of a run's idempotency key that marks its restart ("" without a key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


def _done(dep: Json, at: str, key: str) -> bool:
    notes = _template_annotations(dep)
    return bool(key and notes.get(RESTART_KEY) == key) or notes.get(RESTARTED_AT) == at


def _template_annotations(dep: Json) -> dict[str, str]:
    template = (dep.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("annotations") or {})
