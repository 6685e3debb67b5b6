"""The Deployment controller, run synchronously after each write, as kube-controller-manager
behaves:

- The ReplicaSet whose pod template equals the Deployment's (ignoring ``pod-template-hash``) is
  the new one. If none exists, one is created with revision max+1. If an old one matches
  (``kubectl rollout undo``), it is reused and its revision becomes max+1, the old number kept in
  ``deployment.kubernetes.io/revision-history``. Orphaned ReplicaSets that match the selector are
  adopted first.
- The Deployment's annotations (``kubernetes.io/change-cause`` among them) are copied onto the
  new ReplicaSet; the Deployment's ``deployment.kubernetes.io/revision`` follows the new one.
- A rollout is complete at once unless rollouts are held: then the new ReplicaSet surges by
  ``maxSurge``, the old ones keep all but ``maxUnavailable``, and no new pod gets ready until the
  test completes or fails the rollout (``ProgressDeadlineExceeded``). Scaling changes replicas,
  not the revision.
- Once a rollout is complete, old ReplicaSets beyond ``revisionHistoryLimit`` are deleted. A paused
  Deployment rolls nothing out.

``HOOKS`` maps each kind to what runs after a client writes it (the Job controller is in
``jobs.py``, the KServe and Argo Rollouts ones in ``custom_controllers.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

from tests.fakes.kubernetes.custom_controllers import inferenceservice_written, rollout_written
from tests.fakes.kubernetes.errors import Json
from tests.fakes.kubernetes.jobs import job_written
from tests.fakes.kubernetes.kinds import DEPLOYMENTS, REPLICASETS
from tests.fakes.kubernetes.replicasets import (
    DESIRED,
    MAX,
    NOT_COPIED,
    REVISION,
    adopt_orphans,
    bump_revision,
    new_replicaset,
    owned_replicasets,
    revision,
    without_hash,
)
from tests.fakes.kubernetes.store import Hook, Store, stamp
from tests.fakes.kubernetes.validation import percent_or_int

PROGRESSING = {  # phase -> (status, reason, message)
    "paused": ("Unknown", "DeploymentPaused", "Deployment is paused"),
    "failed": ("False", "ProgressDeadlineExceeded", 'ReplicaSet "{}" has timed out progressing.'),
    "complete": ("True", "NewReplicaSetAvailable", 'ReplicaSet "{}" has successfully progressed.'),
    "progressing": ("True", "ReplicaSetUpdated", 'ReplicaSet "{}" is progressing.'),
}
AVAILABLE = {
    True: ("True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
    False: (
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    ),
}


@dataclass
class Rollout:
    replicaset: str
    phase: str  # progressing | complete | failed


def rolling_limits(spec: Json) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as replica counts, rounded as the controller rounds them;
    (0, 0) for ``Recreate``."""
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return 0, 0
    total = int(spec.get("replicas") or 0)
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = percent_or_int(rolling.get("maxSurge", "25%"), total, round_up=True)
    unavailable = percent_or_int(rolling.get("maxUnavailable", "25%"), total, round_up=False)
    return surge, unavailable if surge or unavailable else 1


def _name(obj: Json) -> str:
    return str(obj["metadata"]["name"])


def sync_deployment(store: Store, dep: Json, at: datetime) -> None:
    dep = copy.deepcopy(dep)
    meta, spec = dep["metadata"], dep["spec"]
    key = (meta["namespace"], meta["name"])
    adopt_orphans(store, dep)
    rss = owned_replicasets(store, dep)
    by_age = sorted(rss, key=lambda rs: rs["metadata"]["creationTimestamp"])
    template = without_hash(spec["template"])
    new = next((rs for rs in by_age if without_hash(rs["spec"]["template"]) == template), None)
    state = store.rollouts.get(key)
    if not spec.get("paused"):
        number = max((revision(rs) for rs in rss if rs is not new), default=0) + 1
        if new is None:
            new = new_replicaset(store, dep, number, at)
        elif revision(new) < number:
            new = bump_revision(new, number)
        if state is None or state.replicaset != _name(new):
            state = Rollout(_name(new), "progressing" if store.hold else "complete")
            store.rollouts[key] = state
        new = copy.deepcopy(new)
        notes = new["metadata"].setdefault("annotations", {})
        notes.update(
            {k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOT_COPIED}
        )
        meta.setdefault("annotations", {})[REVISION] = notes[REVISION]
    elif state is not None:
        new = next((rs for rs in rss if _name(rs) == state.replicaset), new)
    rss = [new if new and _name(rs) == _name(new) else rs for rs in owned_replicasets(store, dep)]
    plan = _plan(dep, new, rss, state.phase if state else "complete")
    for rs in rss:
        _apply(store, dep, rs, *plan[_name(rs)], is_new=rs is new)
    phase = "paused" if spec.get("paused") else state.phase if state else "progressing"
    _status(store, dep, new, phase, at)
    if phase == "complete":
        _cleanup(store, dep, new)


def _plan(dep: Json, new: Json | None, rss: list[Json], phase: str) -> dict[str, tuple[int, int]]:
    """(replicas, ready) for each ReplicaSet of ``dep``."""
    n = int(dep["spec"].get("replicas") or 0)
    ready = {_name(rs): int(rs["status"].get("readyReplicas", 0)) for rs in rss}
    current = {_name(rs): int(rs["spec"].get("replicas") or 0) for rs in rss}
    if new is None:
        return {name: (count, min(count, ready[name])) for name, count in current.items()}
    old = [rs for rs in rss if rs is not new]
    plan = {_name(rs): (0, 0) for rs in old}
    if phase == "complete":
        plan[_name(new)] = (n, n)
        return plan
    if dep["spec"]["strategy"]["type"] == "Recreate":
        plan[_name(new)] = (n, 0)
        return plan
    surge, unavailable = rolling_limits(dep["spec"])
    keep = min(sum(current[_name(rs)] for rs in old), max(n - unavailable, 0))
    for rs in reversed(old):  # the oldest are scaled down first
        count = min(current[_name(rs)], keep)
        keep -= count
        plan[_name(rs)] = (count, min(count, ready[_name(rs)]))
    kept = sum(plan[_name(rs)][0] for rs in old)
    plan[_name(new)] = (min(n, max(current[_name(new)], n + surge - kept)), 0)
    return plan


def _apply(store: Store, dep: Json, rs: Json, replicas: int, ready: int, *, is_new: bool) -> None:
    updated = copy.deepcopy(rs)
    if replicas != rs["spec"].get("replicas"):
        updated["metadata"]["generation"] = int(rs["metadata"].get("generation", 1)) + 1
    updated["spec"]["replicas"] = replicas
    if is_new:
        notes = updated["metadata"].setdefault("annotations", {})
        notes[DESIRED] = str(dep["spec"]["replicas"])
        notes[MAX] = str(int(dep["spec"]["replicas"]) + rolling_limits(dep["spec"])[0])
    status: Json = {"replicas": replicas}
    counts = {"fullyLabeledReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
    status.update({k: v for k, v in counts.items() if v})  # omitempty
    status["observedGeneration"] = updated["metadata"]["generation"]
    updated["status"] = status
    if updated != store.find(REPLICASETS, rs["metadata"]["namespace"], _name(rs)):
        store.save(REPLICASETS, updated)


def _condition(old: list[Json], kind: str, why: tuple[str, str, str], at: datetime) -> Json:
    status, reason, message = why
    prev = next((c for c in old if c.get("type") == kind), None)
    when = stamp(at)
    cond = {"type": kind, "status": status, "lastUpdateTime": when, "lastTransitionTime": when}
    cond.update(reason=reason, message=message)
    if prev and prev.get("status") == status:
        cond["lastTransitionTime"] = prev.get("lastTransitionTime", when)
        if (prev.get("reason"), prev.get("message")) == (reason, message):
            cond["lastUpdateTime"] = prev.get("lastUpdateTime", when)
    return cond


def _status(store: Store, dep: Json, new: Json | None, phase: str, at: datetime) -> None:
    rss = owned_replicasets(store, dep)
    n = int(dep["spec"].get("replicas") or 0)

    def total(field: str, where: str = "status") -> int:
        return sum(int(rs[where].get(field) or 0) for rs in rss)

    new_now = store.find(REPLICASETS, dep["metadata"]["namespace"], _name(new)) if new else None
    available = total("availableReplicas")
    old = dep.get("status") or {}
    status: Json = {"observedGeneration": dep["metadata"]["generation"]}
    counts = {
        "replicas": total("replicas"),
        "updatedReplicas": int(new_now["status"].get("replicas", 0)) if new_now else 0,
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(total("replicas", "spec") - available, 0),
    }
    status.update({k: v for k, v in counts.items() if v})  # omitempty
    conditions = old.get("conditions") or []
    enough = available >= n - rolling_limits(dep["spec"])[1]
    progressing = PROGRESSING[phase]
    progressing = (*progressing[:2], progressing[2].format(_name(new) if new else ""))
    status["conditions"] = [
        _condition(conditions, "Available", AVAILABLE[enough], at),
        _condition(conditions, "Progressing", progressing, at),
    ]
    if old.get("collisionCount"):
        status["collisionCount"] = old["collisionCount"]
    dep["status"] = status
    if store.find(DEPLOYMENTS, dep["metadata"]["namespace"], _name(dep)) != dep:
        store.save(DEPLOYMENTS, dep)


def _cleanup(store: Store, dep: Json, new: Json | None) -> None:
    limit = dep["spec"].get("revisionHistoryLimit")
    if limit is None:
        return
    old = [
        rs
        for rs in owned_replicasets(store, dep)
        if (new is None or _name(rs) != _name(new))
        and not rs["spec"].get("replicas")
        and not rs["status"].get("replicas")
    ]
    for rs in old[: max(len(old) - int(limit), 0)]:
        store.remove(REPLICASETS, rs["metadata"]["namespace"], _name(rs))


def set_phase(store: Store, ns: str, name: str, phase: str, at: datetime) -> None:
    """A test's word on the rollout in progress: ``complete`` or ``failed``."""
    dep = store.get(DEPLOYMENTS, ns, name)
    state = store.rollouts.get((ns, name))
    if state is None:
        raise AssertionError(f"deployment {ns}/{name} has no rollout")
    state.phase = phase
    sync_deployment(store, dep, at)


# -- hooks --------------------------------------------------------------------------------------


def _deployment_written(store: Store, obj: Json, old: Json | None, at: datetime) -> None:
    sync_deployment(store, obj, at)


def _deployment_deleted(store: Store, obj: Json, old: Json | None, at: datetime) -> None:
    store.rollouts.pop((obj["metadata"]["namespace"], _name(obj)), None)


def _replicaset_written(store: Store, obj: Json, old: Json | None, at: datetime) -> None:
    """A ReplicaSet changed by a client: its Deployment puts it back; a bare one runs its pods."""
    refs = obj["metadata"].get("ownerReferences") or []
    ref = next((r for r in refs if r.get("controller")), None)
    if ref and ref.get("kind") == "Deployment":
        dep = store.find(DEPLOYMENTS, obj["metadata"]["namespace"], ref["name"])
        if dep is not None and dep["metadata"]["uid"] == ref.get("uid"):
            sync_deployment(store, dep, at)
            return
    replicas = int(obj["spec"].get("replicas") or 0)
    status: Json = {"replicas": replicas}
    if replicas:
        status.update(
            fullyLabeledReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas
        )
    status["observedGeneration"] = obj["metadata"].get("generation", 1)
    if obj.get("status") != status:
        updated = copy.deepcopy(obj)
        updated["status"] = status
        store.save(REPLICASETS, updated)


HOOKS: dict[str, Hook] = {
    "deployments": _deployment_written,
    "delete:deployments": _deployment_deleted,
    "replicasets": _replicaset_written,
    "jobs": job_written,
    "inferenceservices": inferenceservice_written,
    "rollouts": rollout_written,
}
