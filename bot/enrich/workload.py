"""The cluster's own story of a service: why its pods restart, what keeps them from running, the
Warning events about them, and the last words of a crashed container.

    pods (PodSet JSON) ───> pod_findings ───────────────┐
    Warning events JSON ──> event_lines ──> probe_findings ├─> WorkloadReport ─> summary, JSON
    previous log text ────> log_excerpt (redacted) ──────┘           │
                                                      workload_evidence(findings, change)

Pure functions on the API server's JSON (bot/clients/kubernetes_pods.py reads it;
bot/enrich/workload_source.py puts the parts together): the findings, the report and the
evidence here, the events in workload_events.py, the log in workload_log.py. What a finding is:

- a container's termination (``lastState`` / ``state`` ``terminated``): ``OOMKilled``, ``Error``
  (a non-zero exit) or ``Completed`` (exit 0, restarted all the same), at ``finishedAt``;
- a container waiting: ``CrashLoopBackOff`` (at its last termination), ``ImagePullBackOff``,
  ``ErrImagePull``, ``CreateContainerConfigError`` (at the pod's start);
- a Pending pod the scheduler cannot place (``PodScheduled=False``, ``Unschedulable``), with its
  message ("0/3 nodes are available: 3 Insufficient nvidia.com/gpu");
- failing probes: Warning events with reason ``Unhealthy``.

The log is cluster data, never instructions: redacted when it is read, made inert Slack text
where it is shown (bot/render/workload.py). A fresh crash of the service's pods within
``EVIDENCE_WINDOW`` after one of its code or model changes is evidence for that change
(``workload_evidence``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import TypeAdapter

from bot.clients.kubernetes_pods import PodSet
from bot.enrich.suspects import ago
from bot.enrich.types import ChangeEvent, SourceResult
from bot.enrich.workload_events import EventLine, api_time, clip_text, event_lines
from bot.enrich.workload_log import LogExcerpt

FindingKind = Literal[
    "OOMKilled",
    "Error",
    "Completed",
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "Unschedulable",
    "Unhealthy",
]
ENDINGS: tuple[FindingKind, ...] = ("OOMKilled", "Error", "Completed")
WAITING: tuple[FindingKind, ...] = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
)
# What counts as a crash after a change, the most telling first.
CRASHES: tuple[FindingKind, ...] = ("OOMKilled", "Error", "CrashLoopBackOff")
EVIDENCE_WINDOW = timedelta(minutes=30)

MAX_FINDINGS = 40
MAX_EVENT_LINES = 10

Json = dict[str, Any]
TIMES = "\u00d7"  # the multiplication sign: "OOMKilled x2"


@dataclass(frozen=True)
class WorkloadFinding:
    """One thing wrong with a pod or a container, and when."""

    kind: FindingKind
    service: str | None
    pod: str  # "fraud-scorer-7d9f8c6b5-x2x4k"; for probe events of several pods "…-7d9f8c6b5-*"
    container: str | None
    at: datetime
    detail: str  # "exit code 137", the scheduler's or the kubelet's message
    restarts: int = 0
    count: int = 1


@dataclass(frozen=True)
class WorkloadReport:
    service: str | None
    observed_at: datetime
    deployments: tuple[str, ...]
    pods: int
    ready: int
    pending: int
    restarts: int
    findings: tuple[WorkloadFinding, ...] = ()
    events: tuple[EventLine, ...] = ()  # at most MAX_EVENT_LINES, newest first
    event_lines: int = 0  # before the bound
    events_total: int = 0  # occurrences, summed over every line
    log: LogExcerpt | None = None
    notes: tuple[str, ...] = field(default=())  # what could not be read, or only in part

    def summary(self) -> str:
        """One line: "Pods: 2 restarts (OOMKilled x2, last 3 min ago) · 1 Pending: … · …" (with
        a multiplication sign)."""
        parts = []
        ended = [f for f in self.findings if f.kind in ENDINGS]
        if self.restarts:
            kinds = [f"{k} {TIMES}{n}" for k, n in Counter(f.kind for f in ended).most_common()]
            if ended:
                latest = max(f.at for f in ended)
                kinds.append(f"last {ago(_minutes(latest, self.observed_at))} ago")
            why = f" ({', '.join(kinds)})" if kinds else ""
            parts.append(f"{_plural(self.restarts, 'restart')}{why}")
        waiting = Counter(f.kind for f in self.findings if f.kind in WAITING)
        parts += [
            f"{n} in {kind}" if kind == "CrashLoopBackOff" else f"{n} {kind}"
            for kind, n in waiting.items()
        ]
        unschedulable = [f for f in self.findings if f.kind == "Unschedulable"]
        if unschedulable:
            first = unschedulable[0].detail.split(". ")[0].rstrip(".")
            parts.append(f"{len(unschedulable)} Pending: {clip_text(first, 100)}")
        elif self.pending and not waiting:
            parts.append(f"{self.pending} Pending")
        if probes := sum(f.count for f in self.findings if f.kind == "Unhealthy"):
            parts.append(f"probe failures {TIMES}{probes}")
        if not parts:
            parts.append(f"{self.ready}/{self.pods} ready, no restarts" if self.pods else "no pods")
        parts.append(
            _plural(self.events_total, "Warning event")
            if self.events_total
            else "no Warning events"
        )
        return "Pods: " + " · ".join(parts)


# -- pods -----------------------------------------------------------------------------------------


def pod_findings(service: str | None, pods: Iterable[Json]) -> list[WorkloadFinding]:
    """What is wrong with each pod and its containers (init containers too)."""
    found: list[WorkloadFinding] = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        name = str(meta.get("name") or "")
        started = api_time(status.get("startTime")) or api_time(meta.get("creationTimestamp"))
        if started is None:
            continue
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                at = api_time(cond.get("lastTransitionTime")) or started
                detail = str(cond.get("message") or "Unschedulable")
                found.append(WorkloadFinding("Unschedulable", service, name, None, at, detail))
        statuses = [*(status.get("initContainerStatuses") or [])]
        statuses += status.get("containerStatuses") or []
        for c in statuses:
            found += _container_findings(service, name, c, started)
    return found


def _container_findings(
    service: str | None, pod: str, c: Json, started: datetime
) -> list[WorkloadFinding]:
    name, restarts = str(c.get("name") or ""), int(c.get("restartCount") or 0)
    state = c.get("state") or {}
    last = (c.get("lastState") or {}).get("terminated") or {}
    found = []
    for ended in (last, state.get("terminated") or {}):  # the instance before, this one
        if (at := api_time(ended.get("finishedAt"))) is not None:
            kind, detail = _ending(ended)
            found.append(WorkloadFinding(kind, service, pod, name, at, detail, restarts))
    waiting = state.get("waiting") or {}
    reason = next((k for k in WAITING if k == waiting.get("reason")), None)
    if reason == "CrashLoopBackOff" and (ended_at := api_time(last.get("finishedAt"))):
        how, code = _ending(last)
        detail = f"last ended: {how}, {code}"
        found.append(WorkloadFinding(reason, service, pod, name, ended_at, detail, restarts))
    elif reason is not None:
        detail = str(waiting.get("message") or reason)
        found.append(WorkloadFinding(reason, service, pod, name, started, detail, restarts))
    return found


def _ending(terminated: Mapping[str, Any]) -> tuple[FindingKind, str]:
    code, reason = terminated.get("exitCode"), str(terminated.get("reason") or "")
    detail = f"exit code {code}"
    if reason == "OOMKilled":
        return "OOMKilled", detail
    if code == 0:
        return "Completed", detail
    return "Error", detail if reason in ("", "Error") else f"{detail} ({reason})"


# -- probes and the log to read -------------------------------------------------------------------


def probe_findings(service: str | None, lines: Iterable[EventLine]) -> list[WorkloadFinding]:
    """Failing probes (``Unhealthy`` events about pods) as findings."""
    return [
        WorkloadFinding(
            "Unhealthy", service, line.name, line.container, line.last, line.message, 0, line.count
        )
        for line in lines
        if line.kind == "Pod" and line.reason == "Unhealthy"
    ]


def log_target(findings: Iterable[WorkloadFinding]) -> tuple[str, str] | None:
    """The pod and container whose previous log tells most: the latest to end."""
    ended = [f for f in findings if f.kind in (*ENDINGS, "CrashLoopBackOff") and f.container]
    if not ended:
        return None
    latest = max(ended, key=lambda f: f.at)
    assert latest.container is not None
    return latest.pod, latest.container


# -- the report -----------------------------------------------------------------------------------


def analyse(
    service: str | None,
    podsets: Sequence[PodSet],
    events: Iterable[Json],
    *,
    since: datetime,
    now: datetime,
    notes: Sequence[str] = (),
) -> WorkloadReport:
    """What the pods and the events say, without the log (``log_excerpt``)."""
    pods = [p for s in podsets for p in s.pods]
    lines = event_lines(events, podsets, since)
    findings = pod_findings(service, pods) + probe_findings(service, lines)
    findings.sort(key=lambda f: f.at, reverse=True)
    statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []]
    truncated = [s.deployment["metadata"]["name"] for s in podsets if s.truncated]
    return WorkloadReport(
        service=service,
        observed_at=now,
        deployments=tuple(str(s.deployment["metadata"]["name"]) for s in podsets),
        pods=len(pods),
        ready=sum(1 for p in pods if _ready(p)),
        pending=sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Pending"),
        restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
        findings=tuple(findings[:MAX_FINDINGS]),
        events=tuple(lines[:MAX_EVENT_LINES]),
        event_lines=len(lines),
        events_total=sum(line.count for line in lines),
        notes=(*notes, *(f"{name}: only the first pods were read" for name in truncated)),
    )


def workload_evidence(findings: Iterable[WorkloadFinding], change: ChangeEvent) -> list[str]:
    """A crash of the service's own pods soon after its code or model change, in the words of a
    suspect's reason, which adds " after it": "OOMKilled in pod p (container model) 2 min"."""
    if change.kind not in ("code", "model") or change.service is None:
        return []
    fresh = [
        f
        for f in findings
        if f.kind in CRASHES
        and f.service == change.service
        and change.at < f.at <= change.at + EVIDENCE_WINDOW
    ]
    kind = next((k for k in CRASHES if any(f.kind == k for f in fresh)), None)
    if kind is None:
        return []
    of_kind = sorted((f for f in fresh if f.kind == kind), key=lambda f: f.at)
    first, pods = of_kind[0], {f.pod for f in of_kind}
    where = f"pod {first.pod}" if len(pods) == 1 else f"{len(pods)} pods"
    notes = [] if len(pods) == 1 else [f"first {first.pod}"]
    if first.container:
        notes.append(f"container {first.container}")
    if kind != "CrashLoopBackOff" and any(f.kind == "CrashLoopBackOff" for f in fresh):
        notes.append("now CrashLoopBackOff")
    said = f" ({', '.join(notes)})" if notes else ""
    return [f"{kind} in {where}{said} {ago(_minutes(change.at, first.at))}"]


# -- JSON -----------------------------------------------------------------------------------------

_REPORT = TypeAdapter(WorkloadReport)


def report_json(report: WorkloadReport) -> Json:
    """The report as the ``workload`` source's data (stored, shown by the API), with its
    summary line."""
    data: Json = _REPORT.dump_python(report, mode="json")
    data["summary"] = report.summary()
    return data


def report_of(data: Mapping[str, Any]) -> WorkloadReport | None:
    """A report back from ``report_json``'s data; None when the data is not one (a source that
    did not answer)."""
    if "observed_at" not in data:
        return None
    return _REPORT.validate_python(dict(data))


# -- helpers --------------------------------------------------------------------------------------


def _ready(pod: Json) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def findings_of(result: SourceResult) -> tuple[WorkloadFinding, ...]:
    """The findings of the ``workload`` source's result; none when it did not answer."""
    report = report_of(result.data) if result.status == "ok" else None
    return report.findings if report is not None else ()
