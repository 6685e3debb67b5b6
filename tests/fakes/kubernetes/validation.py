"""What the API server validates on create and update, kind by kind: 422 ``Invalid`` with one
cause per field error.

Only the checks a client can trip over are here: names, labels, selectors that must match the
template's labels, required containers and images, replica counts, restart policies, rolling
update limits, cron schedules, HPA bounds, and fields that are immutable once created.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tests.fakes.kubernetes.errors import (
    Cause,
    Json,
    duplicate,
    immutable,
    invalid_value,
    required,
    unsupported,
)
from tests.fakes.kubernetes.selectors import (
    from_label_selector,
    label_key_problem,
    label_value_problem,
    matches,
    selector_problems,
)

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def subdomain_problem(name: str) -> str | None:
    if len(name) > 253:
        return "must be no more than 253 characters"
    return None if _SUBDOMAIN.match(name) else SUBDOMAIN_MSG


def dns_label_problem(name: str) -> str | None:
    if len(name) > 63:
        return "must be no more than 63 characters"
    return None if _LABEL.match(name) else LABEL_MSG


def _int_field(causes: list[Cause], path: str, value: Any, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        causes.append(invalid_value(path, value, "must be an integer"))
    elif value < minimum:
        causes.append(invalid_value(path, value, f"must be greater than or equal to {minimum}"))


def validate_labels(causes: list[Cause], path: str, labels: Any) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        causes.append(invalid_value(path, labels, "must be a map of strings"))
        return
    for key, value in labels.items():
        if problem := label_key_problem(key):
            causes.append(invalid_value(path, key, problem))
        if not isinstance(value, str):
            causes.append(invalid_value(f"{path}", value, "label values must be strings"))
        elif problem := label_value_problem(value):
            causes.append(invalid_value(path, value, problem))


def _validate_containers(causes: list[Cause], path: str, pod_spec: Json) -> None:
    containers = pod_spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append(required(f"{path}.containers"))
        return
    seen: set[str] = set()
    for i, c in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(c, dict):
            causes.append(invalid_value(where, c, "must be an object"))
            continue
        name = c.get("name")
        if not name:
            causes.append(required(f"{where}.name"))
        elif problem := dns_label_problem(str(name)):
            causes.append(invalid_value(f"{where}.name", name, problem))
        elif name in seen:
            causes.append(duplicate(f"{where}.name", name))
        seen.add(str(name))
        if not c.get("image"):
            causes.append(required(f"{where}.image"))
        for j, port in enumerate(c.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                causes.append(
                    invalid_value(
                        f"{where}.ports[{j}].containerPort",
                        number,
                        "must be between 1 and 65535, inclusive",
                    )
                )


def _validate_template(
    causes: list[Cause], path: str, template: Any, selector: Any, restart: tuple[str, ...]
) -> None:
    if not isinstance(template, dict):
        causes.append(required(path))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    validate_labels(causes, f"{path}.metadata.labels", labels)
    if isinstance(selector, dict) and not matches(from_label_selector(selector), labels):
        causes.append(
            invalid_value(
                f"{path}.metadata.labels", labels, "`selector` does not match template `labels`"
            )
        )
    spec = template.get("spec")
    if not isinstance(spec, dict):
        causes.append(required(f"{path}.spec.containers"))
        return
    _validate_containers(causes, f"{path}.spec", spec)
    policy = spec.get("restartPolicy")
    if policy not in restart:
        causes.append(unsupported(f"{path}.spec.restartPolicy", policy, list(restart)))


def _validate_selector(causes: list[Cause], selector: Any) -> None:
    if selector is None:
        causes.append(required("spec.selector"))
        return
    for problem in selector_problems(selector):
        causes.append(invalid_value("spec.selector", selector, problem))
    if isinstance(selector, dict) and not from_label_selector(selector):
        causes.append(
            invalid_value("spec.selector", selector, "empty selector is invalid for deployment")
        )


def percent_or_int(value: Any, total: int, round_up: bool) -> int:
    """``maxSurge``-style values: an int, or a percentage of ``total`` rounded up or down."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    raise ValueError(value)


def validate_deployment(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    _int_field(causes, "spec.replicas", spec.get("replicas"), 0)
    _int_field(causes, "spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"), 0)
    _int_field(causes, "spec.progressDeadlineSeconds", spec.get("progressDeadlineSeconds"), 1)
    _validate_selector(causes, spec.get("selector"))
    _validate_template(
        causes, "spec.template", spec.get("template"), spec.get("selector"), ("Always",)
    )
    strategy = spec.get("strategy") or {}
    if strategy.get("type") not in ("RollingUpdate", "Recreate"):
        causes.append(
            unsupported("spec.strategy.type", strategy.get("type"), ["Recreate", "RollingUpdate"])
        )
    elif strategy["type"] == "Recreate" and strategy.get("rollingUpdate"):
        causes.append(
            Cause(
                "FieldValueForbidden",
                "spec.strategy.rollingUpdate",
                "Forbidden: may not be specified when strategy `type` is 'Recreate'",
            )
        )
    elif strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        try:
            values = [
                percent_or_int(rolling.get(k, "25%"), 100, False)
                for k in ("maxSurge", "maxUnavailable")
            ]
            if values == [0, 0]:
                causes.append(
                    invalid_value(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        rolling.get("maxUnavailable"),
                        "may not be 0 when `maxSurge` is 0",
                    )
                )
        except ValueError as exc:
            causes.append(
                invalid_value(
                    "spec.strategy.rollingUpdate", exc.args[0], "must be an integer or percentage"
                )
            )
    if old is not None and spec.get("selector") != (old.get("spec") or {}).get("selector"):
        causes.append(immutable("spec.selector", spec.get("selector")))
    return causes


def validate_replicaset(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    _int_field(causes, "spec.replicas", spec.get("replicas"), 0)
    _validate_selector(causes, spec.get("selector"))
    _validate_template(
        causes, "spec.template", spec.get("template"), spec.get("selector"), ("Always",)
    )
    if old is not None and spec.get("selector") != (old.get("spec") or {}).get("selector"):
        causes.append(immutable("spec.selector", spec.get("selector")))
    return causes


def _validate_job_spec(causes: list[Cause], path: str, spec: Json, *, generated: bool) -> None:
    for key, minimum in (("parallelism", 0), ("completions", 0), ("backoffLimit", 0)):
        _int_field(causes, f"{path}.{key}", spec.get(key), minimum)
    _int_field(causes, f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), 1)
    selector = spec.get("selector") if generated else None
    _validate_template(
        causes, f"{path}.template", spec.get("template"), selector, ("OnFailure", "Never")
    )


def validate_job(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    if name and (problem := label_value_problem(name)):
        causes.append(invalid_value("metadata.name", name, problem))
    _validate_job_spec(causes, "spec", spec, generated=True)
    if old is not None:
        old_spec = old.get("spec") or {}
        for key in ("selector", "completions", "completionMode"):
            if spec.get(key) != old_spec.get(key):
                causes.append(immutable(f"spec.{key}", spec.get(key)))
        if spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
            causes.append(immutable("spec.template", spec.get("template")))
    return causes


_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def cron_problem(schedule: str) -> str | None:
    text = schedule.strip()
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if text in _CRON_MACROS or text.startswith("@every "):
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {text}"
    if not all(_CRON_FIELD.match(f) for f in fields):
        return f"unparseable cron schedule: {text}"
    return None


def validate_cronjob(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    if len(name) > 52:
        causes.append(invalid_value("metadata.name", name, "must be no more than 52 characters"))
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(required("spec.schedule"))
    elif problem := cron_problem(str(schedule)):
        causes.append(invalid_value("spec.schedule", schedule, problem))
    if spec.get("concurrencyPolicy") not in ("Allow", "Forbid", "Replace"):
        causes.append(
            unsupported(
                "spec.concurrencyPolicy",
                spec.get("concurrencyPolicy"),
                ["Allow", "Forbid", "Replace"],
            )
        )
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict) or not isinstance(job_template.get("spec"), dict):
        causes.append(required("spec.jobTemplate.spec.template"))
    else:
        _validate_job_spec(causes, "spec.jobTemplate.spec", job_template["spec"], generated=False)
    return causes


def validate_hpa(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict):
        causes.append(required("spec.scaleTargetRef"))
    else:
        for key in ("kind", "name"):
            if not ref.get(key):
                causes.append(required(f"spec.scaleTargetRef.{key}"))
    _int_field(causes, "spec.minReplicas", spec.get("minReplicas"), 1)
    max_replicas = spec.get("maxReplicas")
    if max_replicas is None:
        causes.append(required("spec.maxReplicas"))
    else:
        _int_field(causes, "spec.maxReplicas", max_replicas, 1)
        low = spec.get("minReplicas")
        if isinstance(max_replicas, int) and isinstance(low, int) and max_replicas < low:
            causes.append(
                invalid_value(
                    "spec.maxReplicas",
                    max_replicas,
                    "must be greater than or equal to `minReplicas`",
                )
            )
    for i, metric in enumerate(spec.get("metrics") or []):
        kinds = ["ContainerResource", "External", "Object", "Pods", "Resource"]
        if not isinstance(metric, dict) or metric.get("type") not in kinds:
            got = metric.get("type") if isinstance(metric, dict) else metric
            causes.append(unsupported(f"spec.metrics[{i}].type", got, kinds))
    return causes


def validate_pod(obj: Json, old: Json | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec.containers")]
    _validate_containers(causes, "spec", spec)
    policy = spec.get("restartPolicy")
    if policy not in ("Always", "OnFailure", "Never"):
        causes.append(unsupported("spec.restartPolicy", policy, ["Always", "OnFailure", "Never"]))
    return causes


def validate_event(obj: Json, old: Json | None) -> list[Cause]:
    """What the API server checks of a core/v1 Event a component writes."""
    causes: list[Cause] = []
    involved = obj.get("involvedObject")
    if not isinstance(involved, dict) or not involved.get("kind") or not involved.get("name"):
        causes.append(required("involvedObject"))
    elif involved.get("namespace") != obj["metadata"]["namespace"]:
        causes.append(
            invalid_value(
                "involvedObject.namespace",
                involved.get("namespace"),
                "does not match event.namespace",
            )
        )
    if obj.get("type") not in ("Normal", "Warning"):
        causes.append(unsupported("type", obj.get("type"), ["Normal", "Warning"]))
    if obj.get("eventTime") and not obj.get("reportingComponent"):
        causes.append(required("reportingController"))
    return causes
