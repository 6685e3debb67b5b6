"""Pod statuses as a kubelet (or the scheduler) reports them, for seeding the Kubernetes fake
(``KubeApiFake.add_pod``) and for the workload analysis' unit tests.

The shapes are those of ``kubectl get pod -o json`` on a 1.3x cluster: ``containerStatuses`` with
``state`` / ``lastState`` (``terminated``: ``exitCode``, ``reason``, ``startedAt``,
``finishedAt``), ``restartCount``, and the pod's ``conditions``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

Json = dict[str, Any]

IMAGE = "registry.example/ml/fraud-scorer:2.3.1"
GPU_MESSAGE = (
    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
    "available: 3 No preemption victims found for incoming pod."
)


def ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def terminated(reason: str, exit_code: int, finished: datetime, *, ran_s: float = 90) -> Json:
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": ts(finished - timedelta(seconds=ran_s)),
            "finishedAt": ts(finished),
            "containerID": "containerd://" + "a" * 64,
        }
    }


def container(
    name: str = "model",
    *,
    state: Json | None = None,
    last: Json | None = None,
    restarts: int = 0,
    ready: bool = True,
    image: str = IMAGE,
) -> Json:
    """One entry of ``containerStatuses`` (running and ready unless told otherwise)."""
    return {
        "name": name,
        "state": state or {"running": {"startedAt": "2025-03-01T08:00:00Z"}},
        "lastState": last or {},
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{'b' * 64}",
        "containerID": "containerd://" + "c" * 64,
        "started": ready,
    }


def crash_loop(name: str, pod: str, namespace: str = "ml-serving") -> Json:
    """The ``state`` of a container waiting out its restart back-off."""
    message = f"back-off 40s restarting failed container={name} pod={pod}_{namespace}(uid)"
    return {"waiting": {"reason": "CrashLoopBackOff", "message": message}}


def running(*containers: Json, started: datetime | None = None) -> Json:
    """A Running pod's ``status``; Ready when every container is."""
    at = ts(started or datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    ready = "True" if all(c["ready"] for c in containers) else "False"
    unready = [c["name"] for c in containers if not c["ready"]]
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": at},
        {"type": "Initialized", "status": "True", "lastTransitionTime": at},
        {"type": "Ready", "status": ready, "lastTransitionTime": at},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": at},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
    ]
    if unready:
        for c in conditions[2:4]:
            c["reason"] = "ContainersNotReady"
            c["message"] = f"containers with unready status: [{' '.join(unready)}]"
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": "10.0.1.5",
        "podIP": "10.244.1.7",
        "startTime": at,
        "containerStatuses": list(containers),
        "qosClass": "Burstable",
    }


def image_pull_backoff(name: str = "model", image: str = IMAGE, *, since: datetime) -> Json:
    """A pod whose image cannot be pulled (``ImagePullBackOff``): Pending, scheduled."""
    status = running(
        container(
            name,
            state={
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            },
            ready=False,
            image=image,
        ),
        started=since,
    )
    status["phase"] = "Pending"
    return status


def unschedulable(message: str = GPU_MESSAGE, *, since: datetime) -> Json:
    """A Pending pod the scheduler cannot place (``PodScheduled=False``, ``Unschedulable``)."""
    return {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": ts(since),
                "reason": "Unschedulable",
                "message": message,
            }
        ],
        "qosClass": "Burstable",
    }
