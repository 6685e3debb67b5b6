"""``abort_rollout`` and ``promote_rollout``: what ``kubectl argo rollouts abort`` and ``promote``
send, pinned to the update they were approved for and run once.

    abort    merge patch ``{"status": {"abort": true}}`` to the ``status`` subresource (the main
             object only where the CRD has no status subresource: 404); the controller scales
             the canary away and traffic returns to the stable ReplicaSet
    promote  as the plugin's (non-full) promote: GET the Rollout, then a status patch that
             clears ``pauseConditions``, or, with none, for a canary with steps advances
             ``currentStepIndex`` by one (to at most the number of steps) and clears them; then
             ``{"spec": {"paused": false}}`` if ``spec.paused``. Without a status subresource
             (404) one patch of the main object carries both, as the plugin's "unified" patch

``plan`` pins the update (uid, the current pod hash, the step, the pauses); ``apply`` re-reads,
reports done when a retry finds the work done, refuses when the Rollout moved on since the
approval, and sends each patch with ``metadata.resourceVersion`` as just read (409 if anything
wrote it in between: nothing changes).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.k8s_common import kube_of, read_or_refuse
from bot.clients.kubernetes import Json, KubeClient, version_pins
from bot.clients.kubernetes_serving import canary_steps, current_step_index, rollout_state
from bot.errors import ExternalServiceError


class RolloutParams(Params):
    namespace: str = Field(min_length=1, max_length=63, description="the Rollout's namespace")
    rollout: str = Field(min_length=1, max_length=253, description="the Argo Rollout's name")


def read_rollout(kube: KubeClient, ns: str, name: str) -> Json:
    return read_or_refuse(kube.read_rollout, "rollout", ns, name)


def _pins(rollout: Json) -> dict[str, Any]:
    state = rollout_state(rollout)
    return {
        **version_pins(rollout),
        "current": state.current,
        "stable": state.stable,
        "step_index": state.step_index,
        "summary": state.summary(),
    }


def _version(rollout: Json) -> str:
    return str(rollout["metadata"]["resourceVersion"])


def _moved(rollout: Json, pinned: dict[str, Any], ref: str) -> ActionRefused:
    return ActionRefused(
        f"rollout {ref} changed since this was approved ({pinned.get('summary')} → "
        f"{rollout_state(rollout).summary()}): ask for a new approval"
    )


def patch_status(kube: KubeClient, ns: str, name: str, status: Json, version: str) -> Json:
    """``status`` through the status subresource; the main object if the CRD has none (404),
    as the plugin does."""
    body = {"metadata": {"resourceVersion": version}, "status": status}
    try:
        return kube.patch_rollout_status(ns, name, body)
    except ExternalServiceError as exc:
        if exc.status != 404:
            raise
        return kube.patch_rollout(ns, name, body)


class AbortRollout(Action[RolloutParams]):
    name = "abort_rollout"
    remediates = True
    description = (
        "Abort an Argo Rollout's update (kubectl argo rollouts abort): traffic goes back to the "
        "stable ReplicaSet, only if it is the update that was approved"
    )
    params_model = RolloutParams

    def target(self, ctx: ActionContext, params: RolloutParams) -> Target:
        return Target(params.namespace, f"rollout/{params.rollout}")

    def plan(self, ctx: ActionContext, params: RolloutParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.rollout
        ref = f"{ns}/{name}"
        rollout = read_rollout(kube, ns, name)
        state = rollout_state(rollout)
        pins = _pins(rollout)
        if state.aborted:
            return Plan(
                summary=f"rollout {ref} is aborted already",
                lines=[state.summary()],
                pinned=pins,
                noop=True,
            )
        if not state.in_progress:
            raise ActionRefused(
                f"rollout {ref} is not updating ({state.summary()}): there is nothing to abort"
            )
        return Plan(
            summary=(
                f"Abort the update of rollout {ref}: traffic back to stable rs {state.stable} "
                f"(canary rs {state.current} scaled down)"
            ),
            lines=[
                f"now: {state.summary()}",
                'status patch {"abort": true}, as kubectl argo rollouts abort',
                f"applies only if {ref} is still updating to {state.current}",
            ],
            pinned=pins,
        )

    def apply(self, ctx: ActionContext, params: RolloutParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.rollout
        ref = f"{ns}/{name}"
        pinned = plan.pinned
        data: dict[str, Any] = {
            "namespace": ns,
            "rollout": name,
            "stable": pinned.get("stable"),
            "aborted": pinned.get("current"),
        }
        rollout = read_rollout(kube, ns, name)
        if rollout_state(rollout).aborted:
            return Result(
                True,
                f"rollout {ref} is aborted already: nothing changed",
                data={**data, "already": True},
            )
        meta = rollout["metadata"]
        state = rollout_state(rollout)
        if str(meta.get("uid")) != pinned.get("uid") or state.current != pinned.get("current"):
            raise _moved(rollout, pinned, ref)
        try:
            patch_status(kube, ns, name, {"abort": True}, _version(rollout))
        except ExternalServiceError as exc:
            if exc.status != 409:
                raise
            if rollout_state(read_rollout(kube, ns, name)).aborted:
                return Result(
                    True,
                    f"rollout {ref} is aborted already: nothing changed",
                    data={**data, "already": True},
                )
            raise ActionRefused(
                f"rollout {ref} changed while it was being aborted; nothing was changed: ask "
                "for a new approval"
            ) from exc
        return Result(
            True,
            f"Aborted the update of rollout {ref}: traffic goes back to stable rs "
            f"{pinned.get('stable')}",
            data=data,
        )


def promotion(rollout: Json) -> tuple[Json | None, bool]:
    """The plugin's default promote: (the status to patch, or None; whether to unpause the
    spec)."""
    status = rollout.get("status") or {}
    unpause = bool((rollout.get("spec") or {}).get("paused"))
    if status.get("pauseConditions"):
        return {"pauseConditions": None}, unpause
    index = current_step_index(rollout)
    if "canary" in ((rollout.get("spec") or {}).get("strategy") or {}) and index is not None:
        steps = len(canary_steps(rollout))
        return {"pauseConditions": None, "currentStepIndex": min(index + 1, steps)}, unpause
    return None, unpause


class PromoteRollout(Action[RolloutParams]):
    name = "promote_rollout"
    description = (
        "Promote an Argo Rollout past its pause or to its next canary step (kubectl argo "
        "rollouts promote), only from the step that was approved"
    )
    params_model = RolloutParams

    def target(self, ctx: ActionContext, params: RolloutParams) -> Target:
        return Target(params.namespace, f"rollout/{params.rollout}")

    def plan(self, ctx: ActionContext, params: RolloutParams) -> Plan:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.rollout
        ref = f"{ns}/{name}"
        rollout = read_rollout(kube, ns, name)
        state = rollout_state(rollout)
        status_patch, unpause = promotion(rollout)
        pins = {**_pins(rollout), "status_patch": status_patch, "unpause": unpause}
        index = (status_patch or {}).get("currentStepIndex")
        if state.aborted:
            raise ActionRefused(f"rollout {ref} is aborted ({state.summary()}): nothing to promote")
        if not unpause and (
            status_patch is None or (not state.paused and index == state.step_index)
        ):
            return Plan(
                summary=f"rollout {ref} has nothing to promote ({state.summary()})",
                pinned=pins,
                noop=True,
            )
        lines = [f"now: {state.summary()}"]
        if status_patch is not None:
            lines.append(
                "status: pause conditions cleared"
                + (f", step {state.step_index or 0} → {index}" if index is not None else "")
            )
        if unpause:
            lines.append("spec.paused true → false")
        lines.append(f"applies only if {ref} is still at this step of the same update")
        to = f" to step {index}/{state.steps}" if index is not None else ""
        return Plan(summary=f"Promote rollout {ref}{to}", lines=lines, pinned=pins)

    def apply(self, ctx: ActionContext, params: RolloutParams, plan: Plan) -> Result:
        kube = kube_of(ctx)
        ns, name = params.namespace, params.rollout
        ref = f"{ns}/{name}"
        pinned = plan.pinned
        wanted: Json | None = pinned.get("status_patch")
        rollout = read_rollout(kube, ns, name)
        status = rollout.get("status") or {}
        status_done = wanted is None or (
            not status.get("pauseConditions")
            and status.get("currentStepIndex")
            == wanted.get("currentStepIndex", status.get("currentStepIndex"))
            and status.get("currentPodHash") == pinned.get("current")
        )
        spec_done = not (rollout.get("spec") or {}).get("paused")
        data = {
            "namespace": ns,
            "rollout": name,
            "status": wanted,
            "unpaused": pinned.get("unpause"),
        }
        if status_done and spec_done:
            return Result(
                True,
                f"rollout {ref} is promoted already: nothing changed",
                data={**data, "already": True},
            )
        state = rollout_state(rollout)
        if not status_done and (
            str(rollout["metadata"].get("uid")) != pinned.get("uid")
            or state.current != pinned.get("current")
            or state.step_index != pinned.get("step_index")
        ):
            raise _moved(rollout, pinned, ref)
        version = _version(rollout)
        try:
            if not status_done and wanted is not None:
                answer = patch_status(kube, ns, name, wanted, version)
                version = _version(answer)
            if not spec_done:
                kube.patch_rollout(
                    ns, name, {"metadata": {"resourceVersion": version}, "spec": {"paused": False}}
                )
        except ExternalServiceError as exc:
            if exc.status != 409:
                raise
            raise ActionRefused(
                f"rollout {ref} changed while it was being promoted: ask for a new approval"
            ) from exc
        return Result(True, f"Promoted rollout {ref}: {plan.summary}", data=data)
