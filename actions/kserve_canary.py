"""``canary_traffic`` and ``promote_canary``: a KServe InferenceService's canary, moved by
``spec.predictor.canaryTrafficPercent``, safe to approve and to retry.

    canary_traffic   percent 0 (default): every request back to the rolled-out revision
                     (tag ``prev``); 1-100: that share to the latest ready one
    promote_canary   the field removed (merge patch ``null``): the latest ready revision
                     takes 100% and becomes the rolled-out one

``plan`` reads the InferenceService and shows the split as KServe reports it, and refuses when
the revision that would take the traffic is not ready: no rolled-out revision, one that serves
no traffic, a route that is not ready, or (for a canary share, or a promotion) a canary that is
not ready. It pins the object (uid, resourceVersion, generation) and its revisions. ``apply``:

1. re-reads; if the percent is already the target, reports done and patches nothing (a retry,
   or a second click);
2. refuses if the spec or the revisions changed since the plan (another deploy, a promotion):
   the approval was for a split that is no longer there. Status writes that leave the revisions
   alone do not void it;
3. merge-patches the main object with ``metadata.resourceVersion`` as just read: the API server
   answers 409 if anything wrote it in between, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.k8s_common import kube_of, read_or_refuse
from bot.clients.kubernetes import Json, KubeClient, version_pins
from bot.clients.kubernetes_serving import PredictorState, predictor_state
from bot.errors import ExternalServiceError

ROUTE_CONDITIONS = ("IngressReady", "PredictorRouteReady")


class CanaryTrafficParams(Params):
    namespace: str = Field(
        min_length=1, max_length=63, description="the InferenceService's namespace"
    )
    inferenceservice: str = Field(
        min_length=1, max_length=253, description="the InferenceService's name"
    )
    percent: int = Field(
        0,
        ge=0,
        le=100,
        description="the canary's share of traffic; 0 sends everything to the rolled-out revision",
    )


class PromoteCanaryParams(Params):
    namespace: str = Field(
        min_length=1, max_length=63, description="the InferenceService's namespace"
    )
    inferenceservice: str = Field(
        min_length=1, max_length=253, description="the InferenceService's name"
    )


def _read(kube: KubeClient, ns: str, name: str) -> Json:
    return read_or_refuse(kube.read_inferenceservice, "inferenceservice", ns, name)


def _route_problem(state: PredictorState) -> str | None:
    for kind in ROUTE_CONDITIONS:
        status, why = state.conditions.get(kind, ("True", ""))
        if status != "True":
            return f"{kind} is {status}" + (f": {why}" if why else "")
    return None


def _pins(isvc: Json, state: PredictorState) -> dict[str, Any]:
    return {
        **version_pins(isvc),
        "from_percent": state.canary_percent,
        "latest_ready": state.latest_ready,
        "rolled_out": state.rolled_out,
        "split": state.split(),
    }


def _as_planned(isvc: Json, pinned: dict[str, Any]) -> bool:
    """The object the plan read, or one changed only by status writes that kept its revisions."""
    meta = isvc.get("metadata") or {}
    if str(meta.get("resourceVersion")) == pinned.get("resource_version"):
        return True
    state = predictor_state(isvc)
    return bool(
        str(meta.get("uid")) == pinned.get("uid")
        and int(meta.get("generation") or 0) == pinned.get("generation")
        and state.latest_ready == pinned.get("latest_ready")
        and state.rolled_out == pinned.get("rolled_out")
    )


def _set_percent(
    kube: KubeClient, ns: str, name: str, pinned: dict[str, Any], value: int | None
) -> tuple[Json | None, Json]:
    """Patch ``canaryTrafficPercent`` to ``value`` once; (patched answer or None if it was
    already so, the object as last read)."""
    ref = f"{ns}/{name}"
    isvc = _read(kube, ns, name)
    if predictor_state(isvc).canary_percent == value:
        return None, isvc
    if not _as_planned(isvc, pinned):
        raise ActionRefused(
            f"inferenceservice {ref} changed since this was approved (resourceVersion "
            f"{pinned.get('resource_version')} → {isvc['metadata'].get('resourceVersion')}; "
            f"traffic now {predictor_state(isvc).split()}): ask for a new approval"
        )
    version = str(isvc["metadata"]["resourceVersion"])
    body = {
        "metadata": {"resourceVersion": version},
        "spec": {"predictor": {"canaryTrafficPercent": value}},
    }
    try:
        return kube.patch_inferenceservice(ns, name, body), isvc
    except ExternalServiceError as exc:
        if exc.status != 409:
            raise
        again = _read(kube, ns, name)
        if predictor_state(again).canary_percent == value:
            return None, again
        raise ActionRefused(
            f"inferenceservice {ref} changed while its traffic was being shifted "
            f"(resourceVersion {version} → {again['metadata'].get('resourceVersion')}); nothing "
            "was changed: ask for a new approval"
        ) from exc


class CanaryTraffic(Action[CanaryTrafficParams]):
    name = "canary_traffic"
    remediates = True
    description = (
        "Set a KServe InferenceService's canary share of traffic (0: all back to the rolled-out "
        "revision), only if its revisions are as they were when it was approved"
    )
    params_model = CanaryTrafficParams

    def target(self, ctx: ActionContext, params: CanaryTrafficParams) -> Target:
        return Target(params.namespace, f"inferenceservice/{params.inferenceservice}")

    def plan(self, ctx: ActionContext, params: CanaryTrafficParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.inferenceservice
        ref = f"{ns}/{name}"
        isvc = _read(kube, ns, name)
        state = predictor_state(isvc)
        if state.rolled_out is None:
            raise ActionRefused(
                f"inferenceservice {ref} has no rolled-out revision (KServe reports no "
                "latestRolledoutRevision): there is no previous revision ready to take the traffic"
            )
        serving = {t.revision for t in state.traffic} | {state.latest_ready}
        if state.rolled_out not in serving:
            raise ActionRefused(
                f"the rolled-out revision {state.rolled_out} of {ref} is not ready (it serves no "
                f"traffic; traffic now {state.split()})"
            )
        if (problem := _route_problem(state)) is not None:
            raise ActionRefused(f"the route of {ref} is not ready ({problem}): traffic cannot move")
        if params.percent > 0 and (problem := state.not_ready()) is not None:
            raise ActionRefused(
                f"the canary of {ref} is not ready ({problem}): it cannot take "
                f"{params.percent}% of the traffic"
            )
        pins = _pins(isvc, state)
        stable, canary = state.rolled_out, state.latest_ready
        now = "not set" if state.canary_percent is None else f"{state.canary_percent}%"
        if state.canary_percent == params.percent or not state.has_canary:
            why = (
                f"its canary is at {params.percent}% already"
                if state.has_canary
                else f"it has no canary: {canary} is the rolled-out revision"
            )
            return Plan(
                summary=f"inferenceservice {ref}: {why}",
                lines=[f"traffic: {state.split()}"],
                pinned={**pins, "percent": params.percent},
                noop=True,
            )
        lines = [
            f"traffic now: {state.split()}",
            f"canaryTrafficPercent {now} → {params.percent}%: {100 - params.percent}% {stable} "
            f"(prev), {params.percent}% {canary} (canary)",
            f"applies only if {ref} is unchanged by then (generation {pins['generation']}, "
            f"revisions {stable} and {canary})",
        ]
        summary = (
            f"Send all traffic of {ref} back to {stable} (canary {canary} from {now} to 0%)"
            if params.percent == 0
            else f"Set the canary {canary} of {ref} to {params.percent}% of traffic (now {now})"
        )
        return Plan(summary=summary, lines=lines, pinned={**pins, "percent": params.percent})

    def apply(self, ctx: ActionContext, params: CanaryTrafficParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.inferenceservice
        patched, _ = _set_percent(kube, ns, name, plan.pinned, params.percent)
        data = {
            "namespace": ns,
            "inferenceservice": name,
            "percent": params.percent,
            "from_percent": plan.pinned.get("from_percent"),
            "rolled_out": plan.pinned.get("rolled_out"),
            "canary": plan.pinned.get("latest_ready"),
        }
        if patched is None:
            return Result(
                True,
                f"The canary of {ns}/{name} is at {params.percent}% already: nothing changed",
                data={**data, "already": True},
            )
        return Result(
            True,
            f"Canary {plan.pinned.get('latest_ready')} of {ns}/{name} set to {params.percent}% "
            f"({100 - params.percent}% on {plan.pinned.get('rolled_out')})",
            data={**data, "resource_version": patched.get("metadata", {}).get("resourceVersion")},
        )


class PromoteCanary(Action[PromoteCanaryParams]):
    name = "promote_canary"
    remediates = False
    description = (
        "End a KServe InferenceService's canary: the latest ready revision takes all traffic "
        "(canaryTrafficPercent removed)"
    )
    params_model = PromoteCanaryParams

    def target(self, ctx: ActionContext, params: PromoteCanaryParams) -> Target:
        return Target(params.namespace, f"inferenceservice/{params.inferenceservice}")

    def plan(self, ctx: ActionContext, params: PromoteCanaryParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.inferenceservice
        ref = f"{ns}/{name}"
        isvc = _read(kube, ns, name)
        state = predictor_state(isvc)
        pins = _pins(isvc, state)
        if state.canary_percent is None:
            return Plan(
                summary=f"inferenceservice {ref} has no canary percent set: "
                f"{state.latest_ready} takes all traffic already",
                lines=[f"traffic: {state.split()}"],
                pinned=pins,
                noop=True,
            )
        if state.latest_created != state.latest_ready or (problem := state.not_ready()):
            why = (
                problem
                if state.latest_created == state.latest_ready
                else (f"the newest revision {state.latest_created} is not ready")
            )
            raise ActionRefused(f"the canary of {ref} cannot be promoted: {why}")
        return Plan(
            summary=(
                f"Promote the canary {state.latest_ready} of {ref} to 100% of traffic (from "
                f"{state.canary_percent}%)"
            ),
            lines=[
                f"traffic now: {state.split()}",
                f"canaryTrafficPercent {state.canary_percent}% → removed: {state.latest_ready} "
                f"takes 100% and becomes the rolled-out revision",
                f"applies only if {ref} is unchanged by then (generation {pins['generation']})",
            ],
            pinned=pins,
        )

    def apply(self, ctx: ActionContext, params: PromoteCanaryParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.inferenceservice
        patched, _ = _set_percent(kube, ns, name, plan.pinned, None)
        canary = plan.pinned.get("latest_ready")
        data = {"namespace": ns, "inferenceservice": name, "revision": canary}
        if patched is None:
            return Result(
                True,
                f"{ns}/{name} has no canary percent already: nothing changed",
                data={**data, "already": True},
            )
        return Result(True, f"Promoted {canary} of {ns}/{name} to 100% of traffic", data=data)
