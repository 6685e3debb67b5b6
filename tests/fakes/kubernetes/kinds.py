"""The kinds this fake serves: their resources, the defaults the API server fills in, what it
sets on create, which validation runs (``validation.py``) and which field selectors work.

Pods and Events (core/v1) are read-only here: clients get and list them (and a pod's ``log``),
tests seed them (``controls.py``) as the kubelet and the scheduler would write them.

Defaults are the ones that show up when a client reads an object back and compares templates
(``imagePullPolicy``, ``terminationMessagePath``, ``restartPolicy``, ...). A Job gets a generated
selector (``batch.kubernetes.io/controller-uid``) and the matching template labels; a Job body
copied from another Job, selector and all, is refused as on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.kubernetes.custom_kinds import (
    INFERENCESERVICES,
    ROLLOUTS,
    no_defaults,
    validate_inferenceservice,
    validate_rollout,
)
from tests.fakes.kubernetes.errors import Cause, Json, Resource, invalid_value
from tests.fakes.kubernetes.selectors import EVENT_FIELDS, METADATA_FIELDS, POD_FIELDS
from tests.fakes.kubernetes.validation import (
    subdomain_problem,
    validate_cronjob,
    validate_deployment,
    validate_event,
    validate_hpa,
    validate_job,
    validate_pod,
    validate_replicaset,
)

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
JOBS = Resource("batch", "v1", "jobs", "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")

# -- defaults -----------------------------------------------------------------------------------


def _image_pull_policy(image: str) -> str:
    name = image.split("@", 1)[0]
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    return "Always" if "@" not in image and tag in ("", "latest") else "IfNotPresent"


def default_pod_template(template: Any, *, restart: str | None = "Always") -> None:
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return
    spec = template["spec"]
    if restart is not None:
        spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            if isinstance(c.get("image"), str):
                c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))
            c.setdefault("resources", {})
            for port in c.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _default_deployment(obj: Json) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


def _default_replicaset(obj: Json) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    default_pod_template(spec.get("template"))


def _default_job_spec(spec: Json) -> None:
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", None)
    if spec["manualSelector"] is None:
        del spec["manualSelector"]
    default_pod_template(spec.get("template"), restart=None)


def _default_job(obj: Json) -> None:
    _default_job_spec(obj.setdefault("spec", {}))
    template_labels = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("labels")
    if template_labels and not obj["metadata"].get("labels"):
        obj["metadata"]["labels"] = dict(template_labels)


def _default_cronjob(obj: Json) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = (spec.get("jobTemplate") or {}).get("spec")
    if isinstance(job_spec, dict):
        default_pod_template(job_spec.get("template"), restart=None)


def _default_pod(obj: Json) -> None:
    default_pod_template(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)


def _default_event(obj: Json) -> None:
    obj.setdefault("source", {})


def _default_hpa(obj: Json) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]


# -- set on create ------------------------------------------------------------------------------

JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def _prepare_job(obj: Json) -> list[Cause]:
    """The selector and pod labels the API server generates for a Job (unless
    ``manualSelector``), and the errors for a body that brings its own."""
    spec, meta = obj["spec"], obj["metadata"]
    if spec.get("manualSelector") is True:
        return []
    causes: list[Cause] = []
    if spec.get("selector") is not None:
        causes.append(
            invalid_value("spec.selector", spec["selector"], "`selector` not auto-generated")
        )
    template = spec.get("template")
    if not isinstance(template, dict):
        return causes
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    for key in JOB_UID_LABELS:
        if key in labels and labels[key] != meta["uid"]:
            path = f"spec.template.metadata.labels[{key}]"
            causes.append(invalid_value(path, labels[key], f"must be '{meta['uid']}'"))
    for key in JOB_UID_LABELS:
        labels.setdefault(key, meta["uid"])
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, meta["name"])
    if not causes:
        spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: meta["uid"]}}
    return causes


def _nothing(obj: Json) -> list[Cause]:
    return []


# -- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    resource: Resource
    default: Callable[[Json], None]
    validate: Callable[[Json, Json | None], list[Cause]]
    prepare: Callable[[Json], list[Cause]] = _nothing  # on create, after defaults
    has_generation: bool = True
    name_problem: Callable[[str], str | None] = subdomain_problem
    subresources: tuple[str, ...] = field(default=())
    field_labels: tuple[str, ...] = METADATA_FIELDS  # what a ``fieldSelector`` may name
    read_only: bool = False  # served for get and list only (tests seed the objects)
    custom: bool = False  # a custom resource: no strategic merge patch (custom_kinds.py)


KINDS = {
    DEPLOYMENTS.plural: Kind(
        DEPLOYMENTS, _default_deployment, validate_deployment, subresources=("scale",)
    ),
    REPLICASETS.plural: Kind(REPLICASETS, _default_replicaset, validate_replicaset),
    HPAS.plural: Kind(HPAS, _default_hpa, validate_hpa, has_generation=False),
    JOBS.plural: Kind(JOBS, _default_job, validate_job, prepare=_prepare_job),
    CRONJOBS.plural: Kind(CRONJOBS, _default_cronjob, validate_cronjob),
    PODS.plural: Kind(
        PODS,
        _default_pod,
        validate_pod,
        has_generation=False,
        subresources=("log",),
        field_labels=POD_FIELDS,
        read_only=True,
    ),
    EVENTS.plural: Kind(
        EVENTS,
        _default_event,
        validate_event,
        has_generation=False,
        field_labels=EVENT_FIELDS,
        read_only=True,
    ),
    INFERENCESERVICES.plural: Kind(
        INFERENCESERVICES,
        no_defaults,
        validate_inferenceservice,
        subresources=("status",),
        custom=True,
    ),
    ROLLOUTS.plural: Kind(
        ROLLOUTS, no_defaults, validate_rollout, subresources=("status",), custom=True
    ),
}


def kind_for(group: str, version: str, plural: str) -> Kind | None:
    kind = KINDS.get(plural)
    if kind is None or kind.resource.group != group or kind.resource.version != version:
        return None
    return kind
