"""A Deployment's ReplicaSets as the Deployment controller sees them.

Ownership is the controller ``ownerReference`` (by uid), not the labels. The ReplicaSet of a
template is named ``<deployment>-<pod-template-hash>``, the hash being FNV-32a of the template
encoded like Go's ``rand.SafeEncodeString``; templates compare equal ignoring that label.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from typing import Any

from tests.fakes.kubernetes.errors import Json
from tests.fakes.kubernetes.kinds import REPLICASETS
from tests.fakes.kubernetes.selectors import from_label_selector, matches
from tests.fakes.kubernetes.store import Store, stamp

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH = "pod-template-hash"
# Deployment annotations the controller does not copy onto its ReplicaSets.
NOT_COPIED = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def revision(rs: Json) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _controller_ref(obj: Json) -> Json | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), None)


def owned_replicasets(store: Store, dep: Json) -> list[Json]:
    """The ReplicaSets ``dep`` controls, by revision (oldest first)."""
    uid, ns = dep["metadata"]["uid"], dep["metadata"]["namespace"]
    found = [
        rs
        for (rs_ns, _), rs in store.table(REPLICASETS).items()
        if rs_ns == ns and (_controller_ref(rs) or {}).get("uid") == uid
    ]
    return sorted(found, key=lambda rs: (revision(rs), rs["metadata"]["creationTimestamp"]))


def owner_reference(dep: Json) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": dep["metadata"]["name"],
        "uid": dep["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def adopt_orphans(store: Store, dep: Json) -> None:
    """ReplicaSets with no controller whose labels match the selector become the Deployment's
    (as after deleting a Deployment with ``propagationPolicy=Orphan`` and creating it again)."""
    ns = dep["metadata"]["namespace"]
    selector = from_label_selector(dep["spec"].get("selector"))
    for (rs_ns, _), rs in list(store.table(REPLICASETS).items()):
        labels = rs["metadata"].get("labels")
        if rs_ns != ns or _controller_ref(rs) is not None or not matches(selector, labels):
            continue
        adopted = copy.deepcopy(rs)
        refs = adopted["metadata"].setdefault("ownerReferences", [])
        refs.append(owner_reference(dep))
        store.save(REPLICASETS, adopted)


def without_hash(template: Any) -> Json:
    t = copy.deepcopy(template) if isinstance(template, dict) else {}
    meta = t.get("metadata") or {}
    labels = meta.get("labels") or {}
    labels.pop(HASH, None)
    if not labels:
        meta.pop("labels", None)
    meta.pop("creationTimestamp", None)
    if not meta:
        t.pop("metadata", None)
    return t


def template_hash(template: Json, collisions: int = 0) -> str:
    data = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += collisions.to_bytes(4, "little")
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(h))


def new_replicaset(store: Store, dep: Json, number: int, at: datetime) -> Json:
    """Create the ReplicaSet for ``dep``'s template, revision ``number``, at ``at``. A name taken
    by another template bumps ``status.collisionCount`` in ``dep`` (not yet saved)."""
    meta, spec = dep["metadata"], dep["spec"]
    collisions = int((dep.get("status") or {}).get("collisionCount", 0))
    while True:
        pod_hash = template_hash(spec["template"], collisions)
        name = f"{meta['name']}-{pod_hash}"
        if store.find(REPLICASETS, meta["namespace"], name) is None:
            break
        collisions += 1
        dep.setdefault("status", {})["collisionCount"] = collisions
    template = copy.deepcopy(spec["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = pod_hash
    selector = copy.deepcopy(spec["selector"])
    selector.setdefault("matchLabels", {})[HASH] = pod_hash
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOT_COPIED}
    annotations[REVISION] = str(number)
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "creationTimestamp": stamp(at),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": annotations,
            "ownerReferences": [owner_reference(dep)],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    }
    return store.save(REPLICASETS, rs)


def bump_revision(rs: Json, number: int) -> Json:
    """``rs`` reused as the new ReplicaSet (a rollback): revision ``number``, the old one kept
    in ``deployment.kubernetes.io/revision-history``."""
    rs = copy.deepcopy(rs)
    notes = rs["metadata"].setdefault("annotations", {})
    if notes.get(REVISION):
        history = notes.get(REVISION_HISTORY)
        notes[REVISION_HISTORY] = f"{history},{notes[REVISION]}" if history else notes[REVISION]
    notes[REVISION] = str(number)
    return rs
