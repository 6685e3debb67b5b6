"""What tests seed and read back of the custom resources (a mixin of ``KubeApiFake``, like
``controls.py``): an InferenceService with a canary in its real status shape, and an Argo Rollout
paused on a canary step with the ReplicaSets the Argo controller would have made.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

from tests.fakes.kubernetes.custom_controllers import ROLLOUT_HASH, ROLLOUT_REVISION, owned_by
from tests.fakes.kubernetes.custom_kinds import INFERENCESERVICES, ROLLOUTS
from tests.fakes.kubernetes.errors import Json
from tests.fakes.kubernetes.kinds import KINDS, Kind
from tests.fakes.kubernetes.store import Store, stamp

PREDICTOR_CONDITIONS = (
    "IngressReady",
    "PredictorConfigurationReady",
    "PredictorReady",
    "PredictorRouteReady",
    "Ready",
)


def revision_name(name: str, number: int) -> str:
    """Knative's name of a predictor revision: ``fraud-model-predictor-00002``."""
    return f"{name}-predictor-{number:05d}"


def _pod_hash(image: str) -> str:
    return hashlib.sha256(image.encode()).hexdigest()[:10]


class CustomResourceControls:
    store: Store
    _lock: threading.RLock

    # -- InferenceService ---------------------------------------------------------------------

    def add_inferenceservice(
        self,
        namespace: str,
        name: str,
        storage_uri: str,
        *,
        canary_percent: int | None = 10,
        rolled_out: int | None = 2,
        latest: int = 3,
        ready: bool = True,
        at: datetime | None = None,
    ) -> Json:
        """An InferenceService whose predictor rolled out revision ``rolled_out`` and runs
        ``latest`` as a canary at ``canary_percent``; ``ready=False``: the predictor is not
        ready (its condition says why)."""
        predictor: Json = {
            "model": {"modelFormat": {"name": "sklearn"}, "storageUri": storage_uri},
            "minReplicas": 1,
        }
        if canary_percent is not None:
            predictor["canaryTrafficPercent"] = canary_percent
        body: Json = {
            "apiVersion": INFERENCESERVICES.api_version,
            "kind": INFERENCESERVICES.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"predictor": predictor},
        }
        when = stamp(at or datetime.now(UTC))
        status: Json = {
            "url": f"http://{name}.{namespace}.example.com",
            "address": {"url": f"http://{name}.{namespace}.svc.cluster.local"},
            "components": {
                "predictor": {
                    "latestCreatedRevision": revision_name(name, latest),
                    "latestReadyRevision": revision_name(name, latest if ready else latest - 1),
                }
            },
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": when}
                for t in PREDICTOR_CONDITIONS
            ],
        }
        if rolled_out is not None:
            status["components"]["predictor"]["latestRolledoutRevision"] = revision_name(
                name, rolled_out
            )
        if not ready:
            for cond in status["conditions"]:
                if cond["type"] in ("PredictorReady", "PredictorRouteReady", "Ready"):
                    cond.update(
                        status="False",
                        reason="RevisionMissing",
                        message=f"Revision {revision_name(name, latest)!r} failed with message: "
                        "Container failed with: OOMKilled.",
                    )
        kind = KINDS[INFERENCESERVICES.plural]
        with self._lock:
            self.store.create(kind, namespace, body, at=at)
            created = self.store.get(INFERENCESERVICES, namespace, name)
            self.store.update_status(kind, namespace, name, {**created, "status": status}, at=at)
            return self.inferenceservice(namespace, name)

    def inferenceservice(self, namespace: str, name: str) -> Json:
        with self._lock:
            return copy.deepcopy(self.store.get(INFERENCESERVICES, namespace, name))

    def set_inferenceservice_spec(self, namespace: str, name: str, predictor: Json) -> Json:
        """Another writer (a deploy) changes the predictor's spec: ``predictor`` merged in."""
        kind = KINDS[INFERENCESERVICES.plural]
        with self._lock:
            body = copy.deepcopy(self.store.get(INFERENCESERVICES, namespace, name))
            body["spec"]["predictor"].update(predictor)
            self.store.update(kind, namespace, name, body)
            return self.inferenceservice(namespace, name)

    # -- Rollout ------------------------------------------------------------------------------

    def add_rollout(
        self,
        namespace: str,
        name: str,
        images: list[str],
        *,
        weights: tuple[int, ...] = (10, 20, 50, 80),
        step_index: int = 3,
        replicas: int = 5,
        at: datetime | None = None,
    ) -> Json:
        """A canary Rollout with one revision per image (the last is the canary, the one before
        it the stable one), steps ``setWeight`` then ``pause`` for each weight, paused at
        ``step_index`` (a pause step) with the ReplicaSets the Argo controller made."""
        labels = {"app": name}
        steps: list[Json] = []
        for weight in weights:
            steps += [{"setWeight": weight}, {"pause": {}}]
        template = {
            "metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": name, "image": images[-1]}]},
        }
        body: Json = {
            "apiVersion": ROLLOUTS.api_version,
            "kind": ROLLOUTS.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": template,
                "strategy": {"canary": {"steps": steps}},
            },
        }
        kind = KINDS[ROLLOUTS.plural]
        with self._lock:
            self.store.create(kind, namespace, body, at=at)
            rollout = self.store.get(ROLLOUTS, namespace, name)
            for number, image in enumerate(images, 1):
                self._rollout_replicaset(rollout, image, number, at)
            paused = step_index < len(steps) and "pause" in steps[step_index]
            status: Json = {
                "phase": "Paused" if paused else "Progressing",
                "message": "CanaryPauseStep" if paused else "",
                "currentPodHash": _pod_hash(images[-1]),
                "stableRS": _pod_hash(images[-2] if len(images) > 1 else images[-1]),
                "currentStepIndex": step_index,
                "currentStepHash": "5b6f9c8d7",
                "replicas": replicas,
                "controllerPause": paused,
            }
            if paused:
                status["pauseConditions"] = [
                    {"reason": "CanaryPauseStep", "startTime": stamp(at or datetime.now(UTC))}
                ]
            self.store.update_status(kind, namespace, name, {**rollout, "status": status}, at=at)
            return self.rollout(namespace, name)

    def _rollout_replicaset(self, rollout: Json, image: str, number: int, at: Any) -> None:
        name, ns = rollout["metadata"]["name"], rollout["metadata"]["namespace"]
        pod_hash = _pod_hash(image)
        labels = {"app": name, ROLLOUT_HASH: pod_hash}
        body: Json = {
            "metadata": {
                "name": f"{name}-{pod_hash}",
                "namespace": ns,
                "labels": dict(labels),
                "annotations": {ROLLOUT_REVISION: str(number)},
                "ownerReferences": [
                    {
                        "apiVersion": ROLLOUTS.api_version,
                        "kind": ROLLOUTS.kind,
                        "name": name,
                        "uid": rollout["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {"containers": [{"name": name, "image": image}]},
                },
            },
        }
        self.store.create(KINDS["replicasets"], ns, body, at=at)

    def rollout(self, namespace: str, name: str) -> Json:
        with self._lock:
            return copy.deepcopy(self.store.get(ROLLOUTS, namespace, name))

    def rollout_replicasets(self, namespace: str, name: str) -> list[Json]:
        """The ReplicaSets the Rollout owns (by controller uid), by name."""
        with self._lock:
            rollout = self.store.get(ROLLOUTS, namespace, name)
            return copy.deepcopy(owned_by(self.store, rollout))

    def set_rollout_image(self, namespace: str, name: str, image: str) -> Json:
        """Another writer (a deploy) changes the Rollout's pod template."""
        kind = KINDS[ROLLOUTS.plural]
        with self._lock:
            body = copy.deepcopy(self.store.get(ROLLOUTS, namespace, name))
            body["spec"]["template"]["spec"]["containers"][0]["image"] = image
            self.store.update(kind, namespace, name, body)
            return self.rollout(namespace, name)

    def store_kind(self, plural: str) -> Kind:
        """The fake's ``Kind`` of ``plural``, for a test that writes through ``store``."""
        return KINDS[plural]
