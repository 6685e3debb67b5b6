"""What tests do to the fake Kubernetes API server besides calling it: drive the controllers
(hold, complete or fail rollouts, finish Jobs, set the clock), seed objects with chosen
timestamps (pods with the status a kubelet reports, events, what a container logged), and read
state back as deep copies. A mixin of ``KubeApiFake``; everything runs under
the store's lock, so tests may call it from any thread.
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from typing import Any

from tests.fakes.kubernetes.controllers import set_phase
from tests.fakes.kubernetes.errors import Json
from tests.fakes.kubernetes.jobs import finish_job
from tests.fakes.kubernetes.kinds import DEPLOYMENTS, EVENTS, JOBS, KINDS, PODS
from tests.fakes.kubernetes.replicasets import CHANGE_CAUSE, owned_replicasets, revision
from tests.fakes.kubernetes.store import Store, stamp


class KubeControls:
    store: Store
    _lock: threading.RLock

    # -- the controllers ------------------------------------------------------------------------

    def set_clock(self, at: datetime | None) -> None:
        """Timestamps the server writes come from ``at`` (None: the real clock)."""
        with self._lock:
            self.store.clock = at

    def hold_rollouts(self, hold: bool = True) -> None:
        """Rollouts that start from now on stay in progress, no new pod ready, until
        ``complete_rollout`` or ``fail_rollout``."""
        with self._lock:
            self.store.hold = hold

    def complete_rollout(self, namespace: str, name: str, *, at: datetime | None = None) -> Json:
        with self._lock:
            set_phase(self.store, namespace, name, "complete", at or self.store.now())
            return self.deployment(namespace, name)

    def fail_rollout(self, namespace: str, name: str, *, at: datetime | None = None) -> Json:
        """The progress deadline passes: ``Progressing=False``, ``ProgressDeadlineExceeded``."""
        with self._lock:
            set_phase(self.store, namespace, name, "failed", at or self.store.now())
            return self.deployment(namespace, name)

    def auto_complete_jobs(self, on: bool = True) -> None:
        """Jobs created from now on succeed at once."""
        with self._lock:
            self.store.auto_jobs = on

    def finish_job(
        self, namespace: str, name: str, *, succeeded: bool = True, at: datetime | None = None
    ) -> Json:
        with self._lock:
            job = finish_job(self.store, namespace, name, succeeded, at or self.store.now())
            return copy.deepcopy(job)

    # -- seeding --------------------------------------------------------------------------------

    def add_deployment(
        self,
        namespace: str,
        name: str,
        image: str,
        *,
        replicas: int = 3,
        labels: dict[str, str] | None = None,
        change_cause: str | None = None,
        container: str | None = None,
        at: datetime | None = None,
    ) -> Json:
        """Create a Deployment (one container, named ``container`` or like the Deployment) as
        if applied at ``at``: its first ReplicaSet (revision 1) is created then too."""
        labels = labels or {"app": name}
        body: Json = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "containers": [
                            {"name": container or name.split(".")[0][:63], "image": image}
                        ]
                    },
                },
            },
        }
        if change_cause is not None:
            body["metadata"]["annotations"] = {CHANGE_CAUSE: change_cause}
        with self._lock:
            self.store.create(KINDS["deployments"], namespace, body, at=at)
            return self.deployment(namespace, name)

    def roll(
        self,
        namespace: str,
        name: str,
        image: str,
        *,
        container: str | None = None,
        change_cause: str | None = None,
        at: datetime | None = None,
    ) -> Json:
        """Deploy ``image`` (into ``container``, default the first) at ``at``, as ``kubectl set
        image`` would: a new template, so a new ReplicaSet created at ``at``. Without
        ``change_cause`` the Deployment keeps its old one (which the new ReplicaSet then copies,
        as on a cluster)."""
        with self._lock:
            body = copy.deepcopy(self.store.get(DEPLOYMENTS, namespace, name))
            containers = body["spec"]["template"]["spec"]["containers"]
            target = next((c for c in containers if container in (None, c["name"])), None)
            if target is None:
                raise AssertionError(f"no container {container!r} in {namespace}/{name}")
            target["image"] = image
            if change_cause is not None:
                body["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = change_cause
            self.store.update(KINDS["deployments"], namespace, name, body, at=at)
            return self.deployment(namespace, name)

    def add_pod(
        self,
        namespace: str,
        deployment: str,
        status: Json,
        *,
        name: str | None = None,
        revision_number: int | None = None,
        node: str | None = None,
        at: datetime | None = None,
    ) -> Json:
        """A pod of the Deployment's ReplicaSet (the current one, or ``revision_number``'s), as
        that ReplicaSet would create it at ``at``: its template, the ``pod-template-hash``
        label, a controller ownerReference, a generated name unless ``name``; ``status`` is
        what the kubelet (or the scheduler) reports (tests/support/pods.py builds it)."""
        with self._lock:
            dep = self.store.get(DEPLOYMENTS, namespace, deployment)
            owned = owned_replicasets(self.store, dep)
            if revision_number is not None:
                owned = [rs for rs in owned if revision(rs) == revision_number]
            if not owned:
                raise AssertionError(f"no ReplicaSet for {namespace}/{deployment}")
            rs = owned[-1]
            template = copy.deepcopy(rs["spec"]["template"])
            meta: Json = {
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"],
                        "uid": rs["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            }
            meta.update({"name": name} if name else {"generateName": f"{rs['metadata']['name']}-"})
            spec = template["spec"]
            if node:
                spec["nodeName"] = node
            body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
            pod = self.store.create(KINDS["pods"], namespace, body, at=at)
            pod["status"] = copy.deepcopy(status)
            return copy.deepcopy(self.store.save(PODS, pod))

    def add_event(
        self,
        involved: Json,
        reason: str,
        message: str,
        *,
        type: str = "Warning",
        count: int = 1,
        first: datetime | None = None,
        last: datetime | None = None,
        container: str | None = None,
        component: str = "kubelet",
        series: bool = False,
    ) -> Json:
        """An Event about ``involved`` (an object as read back: a pod, a ReplicaSet, a
        Deployment) seen ``count`` times from ``first`` to ``last``, as the kubelet and the
        controllers record it (``count``, ``firstTimestamp``, ``lastTimestamp``); with
        ``series``, as the scheduler does through events.k8s.io (``eventTime`` and ``series``,
        no count or timestamps). ``container`` sets ``fieldPath`` (``spec.containers{name}``)."""
        meta = involved["metadata"]
        namespace = meta["namespace"]
        with self._lock:
            last = last or self.store.now()
            first = first or last
            ref: Json = {
                "kind": involved["kind"],
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": involved["apiVersion"],
                "resourceVersion": meta.get("resourceVersion", ""),
            }
            if container is not None:
                ref["fieldPath"] = f"spec.containers{{{container}}}"
            nanos = int(first.timestamp() * 1e9) + len(self.store.table(EVENTS))
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{nanos:x}", "namespace": namespace},
                "involvedObject": ref,
                "reason": reason,
                "message": message,
                "type": type,
                "reportingComponent": component,
                "reportingInstance": "",
            }
            if series:
                body.update(
                    source={},
                    firstTimestamp=None,
                    lastTimestamp=None,
                    eventTime=_micro(first),
                    action="Scheduling",
                    reportingInstance=f"{component}-0",
                )
                if count > 1:
                    body["series"] = {"count": count, "lastObservedTime": _micro(last)}
            else:
                body.update(
                    source={"component": component},
                    firstTimestamp=stamp(first),
                    lastTimestamp=stamp(last),
                    count=count,
                    eventTime=None,
                )
            return copy.deepcopy(self.store.create(KINDS["events"], namespace, body, at=first))

    def set_log(
        self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False
    ) -> None:
        """What the container (its earlier instance, with ``previous``) wrote to stdout."""
        with self._lock:
            self.store.get(PODS, namespace, pod)
            self.store.logs[(namespace, pod, container, previous)] = text

    def create(
        self, plural: str, namespace: str, body: Json, *, at: datetime | None = None
    ) -> Json:
        """Create any served kind (``"jobs"``, ``"cronjobs"``, ...) as a client would."""
        with self._lock:
            return copy.deepcopy(self.store.create(KINDS[plural], namespace, body, at=at))

    # -- reading back ---------------------------------------------------------------------------

    def get(self, plural: str, namespace: str, name: str) -> Json | None:
        with self._lock:
            obj = self.store.find(KINDS[plural].resource, namespace, name)
            return copy.deepcopy(obj) if obj is not None else None

    def deployment(self, namespace: str, name: str) -> Json:
        with self._lock:
            return copy.deepcopy(self.store.get(DEPLOYMENTS, namespace, name))

    def replicasets(self, namespace: str, name: str) -> list[Json]:
        """The ReplicaSets the Deployment owns, by revision (oldest first)."""
        with self._lock:
            dep = self.store.get(DEPLOYMENTS, namespace, name)
            return copy.deepcopy(owned_replicasets(self.store, dep))

    def job(self, namespace: str, name: str) -> Json:
        with self._lock:
            return copy.deepcopy(self.store.get(JOBS, namespace, name))

    def jobs(self, namespace: str) -> list[Json]:
        with self._lock:
            table = self.store.table(JOBS)
            return [copy.deepcopy(o) for (ns, _), o in sorted(table.items()) if ns == namespace]


def _micro(at: datetime) -> str:
    """A ``MicroTime``, as ``eventTime`` carries it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
