"""What the KServe and Argo Rollouts controllers write back after a client's write, just enough
for an InferenceService's traffic and a Rollout's state to read as on a cluster.

KServe (an InferenceService written): the predictor's ``traffic`` follows
``spec.predictor.canaryTrafficPercent``. With a canary (``latestReadyRevision`` is not
``latestRolledoutRevision``) and a percent, the latest ready revision (tag ``latest``) gets that
percent and the rolled-out one (tag ``prev``) the rest; without a percent the latest ready one
takes 100% and becomes the rolled-out revision (the canary is promoted).

Argo Rollouts (a Rollout written):
- ``status.abort`` set: the canary is scaled away and its weight is 0: ``phase: Degraded``,
  ``message: RolloutAborted: Rollout aborted update to revision N``, step index 0, no pause;
- its pod template changed (``undo``): the owned ReplicaSet whose template it now is becomes the
  newest revision; back to the stable one, the Rollout is ``Healthy`` at once, abort cleared;
- a promote (pause conditions cleared, ``spec.paused`` false): ``Progressing``, or ``Healthy``
  with the canary as the new stable ReplicaSet when the step index reached the end.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from tests.fakes.kubernetes.custom_kinds import INFERENCESERVICES, ROLLOUTS
from tests.fakes.kubernetes.errors import Json
from tests.fakes.kubernetes.kinds import REPLICASETS
from tests.fakes.kubernetes.store import Store

ROLLOUT_HASH = "rollouts-pod-template-hash"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"


# -- KServe -------------------------------------------------------------------------------------


def traffic_of(predictor_spec: Json, predictor: Json) -> list[Json]:
    """The predictor's traffic targets for its spec and revisions, as KServe reports them."""
    percent = predictor_spec.get("canaryTrafficPercent")
    latest = predictor.get("latestReadyRevision")
    prev = predictor.get("latestRolledoutRevision")
    if latest is None:
        return []
    if percent is None or prev is None or prev == latest:
        return [{"latestRevision": True, "percent": 100, "revisionName": latest, "tag": "latest"}]
    return [
        {"latestRevision": True, "percent": percent, "revisionName": latest, "tag": "latest"},
        {"latestRevision": False, "percent": 100 - percent, "revisionName": prev, "tag": "prev"},
    ]


def inferenceservice_written(store: Store, obj: Json, old: Json | None, at: datetime) -> None:
    predictor_spec = (obj.get("spec") or {}).get("predictor") or {}
    status = copy.deepcopy(obj.get("status") or {})
    predictor = status.setdefault("components", {}).setdefault("predictor", {})
    if predictor_spec.get("canaryTrafficPercent") is None and predictor.get("latestReadyRevision"):
        if predictor.get("latestRolledoutRevision") not in (None, predictor["latestReadyRevision"]):
            predictor["previousRolledoutRevision"] = predictor["latestRolledoutRevision"]
        predictor["latestRolledoutRevision"] = predictor["latestReadyRevision"]
    traffic = traffic_of(predictor_spec, predictor)
    if traffic:
        predictor["traffic"] = traffic
    status["observedGeneration"] = obj["metadata"].get("generation", 1)
    if status != obj.get("status"):
        updated = copy.deepcopy(obj)
        updated["status"] = status
        store.save(INFERENCESERVICES, updated)


# -- Argo Rollouts ------------------------------------------------------------------------------


def derivative(wanted: Any, have: Any) -> bool:
    """Go's ``Semantic.DeepDerivative``: every field set in ``wanted`` is equal in ``have``."""
    if isinstance(wanted, dict):
        return isinstance(have, dict) and all(
            (v in (None, "", {}, []) and k not in have) or derivative(v, have.get(k))
            for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(have, list)
            and len(wanted) == len(have)
            and all(derivative(a, b) for a, b in zip(wanted, have, strict=True))
        )
    return bool(wanted == have)


def without_rollout_hash(template: Any) -> Json:
    t: Json = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(ROLLOUT_HASH, None)
    return t


def owned_by(store: Store, rollout: Json) -> list[Json]:
    uid = rollout["metadata"]["uid"]
    ns = rollout["metadata"]["namespace"]
    return [
        rs
        for (rs_ns, _), rs in sorted(store.table(REPLICASETS).items())
        if rs_ns == ns
        and any(
            r.get("controller") and r.get("uid") == uid
            for r in rs["metadata"].get("ownerReferences") or []
        )
    ]


def _revision(rs: Json) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(ROLLOUT_REVISION, 0))
    except ValueError:
        return 0


def _steps(obj: Json) -> list[Json]:
    canary = ((obj.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return list(canary.get("steps") or [])


def rollout_written(store: Store, obj: Json, old: Json | None, at: datetime) -> None:
    status = copy.deepcopy(obj.get("status") or {})
    old_status = (old or {}).get("status") or {}
    spec = obj.get("spec") or {}
    steps = _steps(obj)
    template_changed = old is not None and (old.get("spec") or {}).get("template") != spec.get(
        "template"
    )
    if template_changed:
        _undone(store, obj, status, steps)
    elif status.get("abort") and not old_status.get("abort"):
        owned = owned_by(store, obj)
        newest = max((_revision(rs) for rs in owned), default=0)
        status.update(
            phase="Degraded",
            message=f"RolloutAborted: Rollout aborted update to revision {newest}",
            currentStepIndex=0,
            controllerPause=False,
        )
        status.pop("pauseConditions", None)
    elif not status.get("abort") and not status.get("pauseConditions") and not spec.get("paused"):
        index = status.get("currentStepIndex")
        if steps and index is not None and index >= len(steps):
            status.update(phase="Healthy", message="", stableRS=status.get("currentPodHash"))
            status["controllerPause"] = False
        elif status.get("phase") == "Paused":
            status.update(phase="Progressing", message="more replicas need to be updated")
            status["controllerPause"] = False
    status["observedGeneration"] = str(obj["metadata"].get("generation", 1))
    if status != obj.get("status"):
        updated = copy.deepcopy(obj)
        updated["status"] = status
        store.save(ROLLOUTS, updated)


def _undone(store: Store, obj: Json, status: Json, steps: list[Json]) -> None:
    """The pod template went back to an owned ReplicaSet's: that one is the newest revision."""
    owned = owned_by(store, obj)
    template = without_rollout_hash((obj.get("spec") or {}).get("template"))
    match = next(
        (rs for rs in owned if derivative(template, without_rollout_hash(rs["spec"]["template"]))),
        None,
    )
    status.pop("abort", None)
    status.pop("pauseConditions", None)
    status["controllerPause"] = False
    if match is None:
        status.update(phase="Progressing", currentStepIndex=0, message="")
        return
    newest = max((_revision(rs) for rs in owned), default=0)
    if _revision(match) != newest:
        bumped = copy.deepcopy(match)
        bumped["metadata"].setdefault("annotations", {})[ROLLOUT_REVISION] = str(newest + 1)
        store.save(REPLICASETS, bumped)
    pod_hash = (match["metadata"].get("labels") or {}).get(ROLLOUT_HASH)
    status["currentPodHash"] = pod_hash
    if pod_hash == status.get("stableRS"):
        status.update(phase="Healthy", message="", currentStepIndex=len(steps))
    else:
        status.update(phase="Progressing", message="", currentStepIndex=0)
