"""Two custom resources as their CRDs define them: KServe's ``InferenceService``
(``serving.kserve.io/v1beta1``) and Argo's ``Rollout`` (``argoproj.io/v1alpha1``).

What the API server does differently for a custom resource than for a built-in kind:

- no strategic merge patch: a PATCH with ``application/strategic-merge-patch+json`` is 415,
  naming the JSON, merge and apply patch types (routes.py);
- the ``status`` subresource (both CRDs declare it): a write to the main resource ignores
  ``status``, a write to ``/status`` changes only ``status`` (custom_controllers.py);
- validation is the CRD's OpenAPI schema, worded as the API server words it
  (``spec.predictor.canaryTrafficPercent in body should be less than or equal to 100``), and
  it checks ``status`` too on a status write.

Nothing is defaulted: these CRDs' schemas set no defaults on the fields opsbot reads.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.kubernetes.errors import Cause, Json, Resource, invalid_value, required

INFERENCESERVICES = Resource(
    "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
)
ROLLOUTS = Resource("argoproj.io", "v1alpha1", "rollouts", "Rollout")

_GO_TYPES = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    return _GO_TYPES.get(type(value), "null")


def _typed(causes: list[Cause], path: str, value: Any, wanted: str) -> bool:
    """The schema's ``type``; True when ``value`` has it (None: the field is absent)."""
    if value is None:
        return False
    if _json_type(value) != wanted:
        causes.append(
            invalid_value(
                path,
                _json_type(value),
                f'{path} in body must be of type {wanted}: "{_json_type(value)}"',
            )
        )
        return False
    return True


def _bounded(causes: list[Cause], path: str, value: Any, low: int | None, high: int | None) -> None:
    if not _typed(causes, path, value, "integer"):
        return
    if low is not None and value < low:
        causes.append(
            invalid_value(path, value, f"{path} in body should be greater than or equal to {low}")
        )
    if high is not None and value > high:
        causes.append(
            invalid_value(path, value, f"{path} in body should be less than or equal to {high}")
        )


def _object(causes: list[Cause], path: str, value: Any) -> Json:
    return value if _typed(causes, path, value, "object") else {}


# -- InferenceService ---------------------------------------------------------------------------


def validate_inferenceservice(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = _object(causes, "spec", obj.get("spec"))
    if "predictor" not in spec:
        causes.append(required("spec.predictor"))
    predictor = _object(causes, "spec.predictor", spec.get("predictor"))
    _bounded(
        causes,
        "spec.predictor.canaryTrafficPercent",
        predictor.get("canaryTrafficPercent"),
        0,
        100,
    )
    _bounded(causes, "spec.predictor.minReplicas", predictor.get("minReplicas"), 0, None)
    causes += validate_inferenceservice_status(obj)
    return causes


def validate_inferenceservice_status(obj: Json) -> list[Cause]:
    causes: list[Cause] = []
    status = _object(causes, "status", obj.get("status"))
    components = _object(causes, "status.components", status.get("components"))
    predictor = _object(causes, "status.components.predictor", components.get("predictor"))
    traffic = predictor.get("traffic")
    if _typed(causes, "status.components.predictor.traffic", traffic, "array"):
        for i, target in enumerate(traffic):
            path = f"status.components.predictor.traffic[{i}]"
            target = _object(causes, path, target)
            _bounded(causes, f"{path}.percent", target.get("percent"), 0, None)
            _typed(causes, f"{path}.revisionName", target.get("revisionName"), "string")
            _typed(causes, f"{path}.latestRevision", target.get("latestRevision"), "boolean")
    return causes


# -- Rollout ------------------------------------------------------------------------------------


def validate_rollout(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = _object(causes, "spec", obj.get("spec"))
    _typed(causes, "spec.paused", spec.get("paused"), "boolean")
    _bounded(causes, "spec.replicas", spec.get("replicas"), 0, None)
    if "template" not in spec and "workloadRef" not in spec:
        causes.append(required("spec.template"))
    template = _object(causes, "spec.template", spec.get("template"))
    _object(causes, "spec.template.metadata", template.get("metadata"))
    strategy = _object(causes, "spec.strategy", spec.get("strategy"))
    canary = _object(causes, "spec.strategy.canary", strategy.get("canary"))
    steps = canary.get("steps")
    if _typed(causes, "spec.strategy.canary.steps", steps, "array"):
        for i, step in enumerate(steps):
            path = f"spec.strategy.canary.steps[{i}]"
            step = _object(causes, path, step)
            _bounded(causes, f"{path}.setWeight", step.get("setWeight"), 0, 100)
    causes += validate_rollout_status(obj)
    return causes


def validate_rollout_status(obj: Json) -> list[Cause]:
    causes: list[Cause] = []
    status = _object(causes, "status", obj.get("status"))
    _typed(causes, "status.abort", status.get("abort"), "boolean")
    _typed(causes, "status.promoteFull", status.get("promoteFull"), "boolean")
    _typed(causes, "status.controllerPause", status.get("controllerPause"), "boolean")
    _bounded(causes, "status.currentStepIndex", status.get("currentStepIndex"), 0, 2**31 - 1)
    conditions = status.get("pauseConditions")
    if _typed(causes, "status.pauseConditions", conditions, "array"):
        for i, cond in enumerate(conditions):
            cond = _object(causes, f"status.pauseConditions[{i}]", cond)
            if "reason" not in cond:
                causes.append(required(f"status.pauseConditions[{i}].reason"))
    return causes


def validate_status(res: Resource, obj: Json) -> list[Cause]:
    """The schema's checks of ``status`` alone (a write to the status subresource)."""
    if res == INFERENCESERVICES:
        return validate_inferenceservice_status(obj)
    if res == ROLLOUTS:
        return validate_rollout_status(obj)
    return []


def no_defaults(obj: Json) -> None:
    obj.setdefault("spec", {})
