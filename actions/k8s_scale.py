"""``scale_deployment``: set a Deployment's replica count, or its HPA's floor when one owns it.

Where a HorizontalPodAutoscaler targets the Deployment, scaling the Deployment is undone by the
HPA within seconds; the plan says so and raises (or lowers) the HPA's ``minReplicas`` instead,
and its ``maxReplicas`` where the new count would not fit.

Policy bounds are checked by the runner; the action itself refuses more than
``MAX_SCALE_FACTOR`` times the current count (a typo guard: 3 → 30) and more than
``MAX_REPLICAS``. ``apply`` writes with a resourceVersion precondition (409 → refused) after
checking that the count is still the approved "from": a count someone else changed since means a
new approval.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.k8s_common import kube_of
from bot.clients.kubernetes import Json, KubeClient
from bot.errors import ExternalServiceError

MAX_SCALE_FACTOR = 2
MAX_REPLICAS = 100


class ScaleParams(Params):
    namespace: str = Field(min_length=1, max_length=63, description="the Deployment's namespace")
    deployment: str = Field(min_length=1, max_length=253, description="the Deployment's name")
    replicas: int = Field(ge=0, le=1000, description="the replica count wanted")


class ScaleDeployment(Action[ScaleParams]):
    name = "scale_deployment"
    remediates = True
    description = (
        "Scale a Deployment (or raise its HPA's minReplicas when an HPA owns the count), "
        "at most doubling it at a time"
    )
    params_model = ScaleParams

    def target(self, ctx: ActionContext, params: ScaleParams) -> Target:
        return Target(params.namespace, f"deployment/{params.deployment}")

    def plan(self, ctx: ActionContext, params: ScaleParams) -> Plan:
        kube = kube_of(ctx)
        ns, name, wanted = params.namespace, params.deployment, params.replicas
        ref = f"{ns}/{name}"
        scale = _read_scale(kube, ns, name)
        current = _replicas(scale)
        if wanted > MAX_REPLICAS:
            raise ActionRefused(
                f"{wanted} replicas for {ref} is more than this action ever sets "
                f"({MAX_REPLICAS}); scale it by hand if you mean it"
            )
        if current > 0 and wanted > MAX_SCALE_FACTOR * current:
            raise ActionRefused(
                f"scaling {ref} from {current} to {wanted} replicas is more than "
                f"{MAX_SCALE_FACTOR} times its current count at once; scale to at most "
                f"{MAX_SCALE_FACTOR * current} first, then again"
            )
        pinned: dict[str, Any] = {
            "uid": str(scale["metadata"].get("uid") or ""),
            "resource_version": str(scale["metadata"].get("resourceVersion") or ""),
            "from_replicas": current,
            "to_replicas": wanted,
        }
        hpa = kube.find_hpa(ns, name)
        if hpa is None:
            pinned["hpa"] = None
            if current == wanted:
                return Plan(f"{ref} already has {wanted} replicas", pinned=pinned, noop=True)
            return Plan(
                f"Scale {ref} from {current} to {wanted} replicas",
                lines=[
                    f"replicas {current} → {wanted}",
                    f"applies only if {ref} still has {current} (resourceVersion "
                    f"{pinned['resource_version']})",
                ],
                pinned=pinned,
            )
        return _hpa_plan(ref, hpa, current, wanted, pinned)

    def apply(self, ctx: ActionContext, params: ScaleParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.deployment
        if plan.pinned.get("hpa"):
            return _apply_hpa(kube, ns, name, plan.pinned)
        ref = f"{ns}/{name}"
        pinned = plan.pinned
        wanted, before = int(pinned["to_replicas"]), int(pinned["from_replicas"])
        hpa = kube.find_hpa(ns, name)
        if hpa is not None:
            raise ActionRefused(
                f"HPA {hpa['metadata']['name']} now owns the replica count of {ref}: "
                "ask for a new approval"
            )
        scale = _read_scale(kube, ns, name)
        current, version = _replicas(scale), str(scale["metadata"].get("resourceVersion"))
        data = {"namespace": ns, "deployment": name, "from_replicas": before, "replicas": wanted}
        if current == wanted:
            return Result(True, f"{ref} already has {wanted} replicas", {**data, "already": True})
        same_object = scale["metadata"].get("uid") == pinned.get("uid")
        if version != pinned.get("resource_version") and not (same_object and current == before):
            raise ActionRefused(
                f"{ref} was scaled since this was approved (replicas {before} → {current}, "
                f"resourceVersion {pinned.get('resource_version')} → {version}): "
                "ask for a new approval"
            )
        try:
            kube.patch_scale(ns, name, wanted, version)
        except ExternalServiceError as exc:
            if exc.status == 409:
                raise ActionRefused(
                    f"{ref} changed while it was being scaled; nothing was changed: "
                    "ask for a new approval"
                ) from exc
            raise
        return Result(True, f"Scaled {ref} from {current} to {wanted} replicas", data)


def _hpa_plan(ref: str, hpa: Json, current: int, wanted: int, pinned: dict[str, Any]) -> Plan:
    hpa_name = str(hpa["metadata"]["name"])
    spec = hpa.get("spec") or {}
    low, high = int(spec.get("minReplicas") or 1), int(spec["maxReplicas"])
    if wanted < 1:
        raise ActionRefused(
            f"HPA {hpa_name} owns the replica count of {ref} and cannot go below 1: "
            "scale to 0 after removing the HPA"
        )
    new_low, new_high = wanted, max(high, wanted)
    pinned["hpa"] = {
        "name": hpa_name,
        "uid": str(hpa["metadata"].get("uid") or ""),
        "resource_version": str(hpa["metadata"].get("resourceVersion") or ""),
        "min_replicas": low,
        "max_replicas": high,
        "to_min_replicas": new_low,
        "to_max_replicas": new_high,
    }
    if (new_low, new_high) == (low, high):
        return Plan(
            f"HPA {hpa_name} of {ref} already keeps at least {wanted} replicas",
            pinned=pinned,
            noop=True,
        )
    verb = "raising" if new_low > low else "lowering"
    lines = [f"HPA {hpa_name}: minReplicas {low} → {new_low}"]
    if new_high != high:
        lines.append(f"HPA {hpa_name}: maxReplicas {high} → {new_high}, to fit")
    lines.append(f"{ref} has {current} replicas now; the HPA sets the count from its bounds")
    if new_low < low:
        lines.append("the HPA keeps more replicas while the load needs them")
    lines.append(f"applies only if the HPA still has minReplicas {low}, maxReplicas {high}")
    return Plan(
        f"HPA {hpa_name} owns the replica count of {ref}: {verb} its minReplicas "
        f"{low} → {new_low} instead",
        lines=lines,
        pinned=pinned,
    )


def _apply_hpa(kube: KubeClient, ns: str, name: str, pinned: dict[str, Any]) -> Result:
    ref = f"{ns}/{name}"
    want: dict[str, Any] = pinned["hpa"]
    hpa_name = str(want["name"])
    hpa = kube.find_hpa(ns, name)
    if hpa is None or hpa["metadata"]["name"] != hpa_name:
        raise ActionRefused(
            f"HPA {hpa_name} no longer owns the replica count of {ref}: ask for a new approval"
        )
    spec = hpa.get("spec") or {}
    low, high = int(spec.get("minReplicas") or 1), int(spec["maxReplicas"])
    target = int(want["to_min_replicas"]), int(want["to_max_replicas"])
    data = {
        "namespace": ns,
        "deployment": name,
        "hpa": hpa_name,
        "min_replicas": target[0],
        "max_replicas": target[1],
        "from_min_replicas": int(want["min_replicas"]),
        "from_max_replicas": int(want["max_replicas"]),
    }
    if (low, high) == target:
        return Result(
            True,
            f"HPA {hpa_name} of {ref} already has minReplicas {low}, maxReplicas {high}",
            {**data, "already": True},
        )
    version = str(hpa["metadata"].get("resourceVersion"))
    unchanged = (low, high) == (int(want["min_replicas"]), int(want["max_replicas"]))
    if not unchanged or hpa["metadata"].get("uid") != want.get("uid"):
        raise ActionRefused(
            f"HPA {hpa_name} of {ref} changed since this was approved (minReplicas "
            f"{want['min_replicas']} → {low}, maxReplicas {want['max_replicas']} → {high}): "
            "ask for a new approval"
        )
    try:
        kube.patch_hpa(
            ns, hpa_name, min_replicas=target[0], max_replicas=target[1], resource_version=version
        )
    except ExternalServiceError as exc:
        if exc.status == 409:
            raise ActionRefused(
                f"HPA {hpa_name} changed while it was being patched; nothing was changed: "
                "ask for a new approval"
            ) from exc
        raise
    extra = f", maxReplicas {high} → {target[1]}" if target[1] != high else ""
    return Result(True, f"HPA {hpa_name} of {ref}: minReplicas {low} → {target[0]}{extra}", data)


def _read_scale(kube: KubeClient, ns: str, name: str) -> Json:
    try:
        return kube.read_scale(ns, name)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(f"deployment {ns}/{name} not found") from exc
        raise


def _replicas(scale: Json) -> int:
    return int((scale.get("spec") or {}).get("replicas") or 0)
