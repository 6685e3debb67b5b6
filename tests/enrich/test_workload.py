"""The workload analysis (bot/enrich/workload.py) on pods and events shaped as the API server
sends them: what each finding says, how events merge, how the log is bounded and redacted, and
when a crash is evidence for a change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clients.kubernetes_pods import PodSet
from bot.enrich.types import ChangeEvent, SourceResult
from bot.enrich.workload import (
    MAX_EVENT_LINES,
    TIMES,
    analyse,
    findings_of,
    log_target,
    report_json,
    report_of,
    workload_evidence,
)
from bot.enrich.workload_log import LOG_CHARS, LOG_LINE_CHARS, LOG_TAIL_LINES, log_excerpt
from bot.text.untrusted import REDACTED
from tests.support import pods
from tests.support.pods import ts

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=6)
RS = "fraud-scorer-7d9f8c6b5"
UID = "3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b"

X = TIMES  # the multiplication sign of "OOMKilled x2"
Json = dict[str, Any]


def pod(name: str, status: Json, *, created: datetime = NOW - timedelta(hours=1)) -> Json:
    return {
        "metadata": {
            "name": f"{RS}-{name}",
            "namespace": "ml-serving",
            "creationTimestamp": ts(created),
        },
        "spec": {"containers": [{"name": "model", "image": pods.IMAGE}]},
        "status": status,
    }


def podset(*members: Json, deployment: str = "fraud-scorer", rs: str = RS) -> PodSet:
    return PodSet({"metadata": {"name": deployment}}, [{"metadata": {"name": rs}}], list(members))


def event(
    kind: str,
    name: str,
    reason: str,
    message: str,
    *,
    count: int = 1,
    last: datetime = NOW - timedelta(minutes=1),
    container: str | None = None,
    type_: str = "Warning",
) -> Json:
    involved = {"kind": kind, "namespace": "ml-serving", "name": name, "uid": UID}
    if container:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    return {
        "metadata": {"name": f"{name}.18a1b2c3d4e5f6a7", "namespace": "ml-serving"},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": ts(last - timedelta(minutes=10)),
        "lastTimestamp": ts(last),
        "eventTime": None,
        "source": {"component": "kubelet"},
    }


def oom_looping(name: str, finished: datetime, restarts: int = 3) -> Json:
    return pod(
        name,
        pods.running(
            pods.container(
                state=pods.crash_loop("model", f"{RS}-{name}"),
                last=pods.terminated("OOMKilled", 137, finished),
                restarts=restarts,
                ready=False,
            )
        ),
    )


def change(kind: str = "code", at: datetime = NOW - timedelta(minutes=8), **kw: Any) -> ChangeEvent:
    values: dict[str, Any] = {
        "kind": kind,
        "ref": "fraud-scorer:2.3.1",
        "service": "fraud-scorer",
        "at": at,
        "source": "deploy_event",
        "summary": "fraud-scorer:2.3.1 deployed by ci",
    }
    values.update(kw)
    return ChangeEvent(**values)


def test_an_oom_killed_container_in_crash_loop_back_off() -> None:
    finished = NOW - timedelta(minutes=3)
    report = analyse(
        "fraud-scorer", [podset(oom_looping("x2x4k", finished))], [], since=SINCE, now=NOW
    )

    oom, loop = sorted(report.findings, key=lambda f: f.kind != "OOMKilled")
    assert (oom.kind, oom.pod, oom.container, oom.at, oom.detail, oom.restarts) == (
        "OOMKilled",
        f"{RS}-x2x4k",
        "model",
        finished,
        "exit code 137",
        3,
    )
    assert (loop.kind, loop.at, loop.detail) == (
        "CrashLoopBackOff",
        finished,
        "last ended: OOMKilled, exit code 137",
    )
    assert (report.pods, report.ready, report.restarts) == (1, 0, 3)
    assert report.summary() == (
        f"Pods: 3 restarts (OOMKilled {X}1, last 3 min ago) · 1 in CrashLoopBackOff · "
        "no Warning events"
    )
    assert log_target(report.findings) == (f"{RS}-x2x4k", "model")


def test_exits_are_errors_with_their_code_and_a_clean_exit_is_completed() -> None:
    def ended(name: str, reason: str, code: int, minutes: int) -> Json:
        last = pods.terminated(reason, code, NOW - timedelta(minutes=minutes))
        return pod(name, pods.running(pods.container(last=last, restarts=1)))

    members = [
        ended("aaaaa", "Error", 1, 9),
        ended("bbbbb", "ContainerCannotRun", 128, 7),
        ended("ccccc", "Completed", 0, 5),
    ]
    report = analyse("fraud-scorer", [podset(*members)], [], since=SINCE, now=NOW)

    assert [(f.kind, f.detail) for f in report.findings] == [
        ("Completed", "exit code 0"),
        ("Error", "exit code 128 (ContainerCannotRun)"),
        ("Error", "exit code 1"),
    ]  # newest first
    assert report.summary() == (
        f"Pods: 3 restarts (Error {X}2, Completed {X}1, last 5 min ago) · no Warning events"
    )
    assert log_target(report.findings) == (f"{RS}-ccccc", "model")


def test_an_image_that_cannot_be_pulled_and_a_pod_that_cannot_be_scheduled() -> None:
    pulling = pod("ppppp", pods.image_pull_backoff(since=NOW - timedelta(minutes=4)))
    stuck = pod("sssss", pods.unschedulable(since=NOW - timedelta(minutes=2)))
    report = analyse("fraud-scorer", [podset(pulling, stuck)], [], since=SINCE, now=NOW)

    by_kind = {f.kind: f for f in report.findings}
    assert by_kind["ImagePullBackOff"].detail == f'Back-off pulling image "{pods.IMAGE}"'
    assert by_kind["ImagePullBackOff"].at == NOW - timedelta(minutes=4)
    assert by_kind["Unschedulable"].detail == pods.GPU_MESSAGE
    assert by_kind["Unschedulable"].container is None
    assert report.pending == 2
    assert report.summary() == (
        "Pods: 1 ImagePullBackOff · 1 Pending: 0/3 nodes are available: 3 Insufficient "
        "nvidia.com/gpu · no Warning events"
    )
    assert log_target(report.findings) is None  # nothing ended: no previous log to read


def test_healthy_pods_say_so() -> None:
    members = [pod(n, pods.running(pods.container())) for n in ("aaaaa", "bbbbb")]
    report = analyse("fraud-scorer", [podset(*members)], [], since=SINCE, now=NOW)
    assert report.findings == ()
    assert report.summary() == "Pods: 2/2 ready, no restarts · no Warning events"
    assert analyse("fraud-scorer", [podset()], [], since=SINCE, now=NOW).summary() == (
        "Pods: no pods · no Warning events"
    )


def test_warning_events_merge_per_replicaset_reason_and_message_newest_first() -> None:
    def backoff(suffix: str, count: int, minutes: int) -> Json:
        name = f"{RS}-{suffix}"
        message = f"Back-off restarting failed container model in pod {name}_ml-serving({UID})"
        return event(
            "Pod",
            name,
            "BackOff",
            message,
            count=count,
            last=NOW - timedelta(minutes=minutes),
            container="model",
        )

    events = [
        backoff("aaaaa", 5, 4),
        backoff("bbbbb", 7, 2),
        event(
            "Pod",
            f"{RS}-aaaaa",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            count=12,
            container="model",
        ),
        event(
            "ReplicaSet",
            RS,
            "FailedCreate",
            'pods "x" is forbidden: exceeded quota: gpu',
            last=NOW - timedelta(minutes=30),
        ),
        event(
            "Deployment",
            "fraud-scorer",
            "ProgressDeadlineExceeded",
            "rollout stuck",
            last=NOW - timedelta(minutes=20),
        ),
        event("Pod", "fraud-scorer-canary-5c6d7-zzzzz", "BackOff", "not ours", last=NOW),
        event("Pod", f"{RS}-ccccc", "BackOff", "too old", last=SINCE - timedelta(minutes=1)),
        event("Pod", f"{RS}-ccccc", "Pulled", "a Normal one", type_="Normal"),
    ]
    report = analyse("fraud-scorer", [podset()], events, since=SINCE, now=NOW)

    assert [(e.kind, e.name, e.reason, e.count) for e in report.events] == [
        ("Pod", f"{RS}-aaaaa", "Unhealthy", 12),
        ("Pod", f"{RS}-*", "BackOff", 12),  # two pods, one line, the counts summed
        ("Deployment", "fraud-scorer", "ProgressDeadlineExceeded", 1),
        ("ReplicaSet", RS, "FailedCreate", 1),
    ]
    merged = report.events[1]
    assert merged.message == f"Back-off restarting failed container model in pod {RS}-*_ml-serving"
    assert merged.last == NOW - timedelta(minutes=2)
    assert merged.container == "model"
    assert report.events_total == 26
    [probe] = [f for f in report.findings if f.kind == "Unhealthy"]
    assert (probe.pod, probe.container, probe.count) == (f"{RS}-aaaaa", "model", 12)
    assert report.summary() == f"Pods: probe failures {X}12 · 26 Warning events"


def test_the_schedulers_series_events_count_and_date_by_their_series() -> None:
    scheduled = event("Pod", f"{RS}-sssss", "FailedScheduling", pods.GPU_MESSAGE)
    scheduled.update(
        count=None,
        firstTimestamp=None,
        lastTimestamp=None,
        eventTime=(NOW - timedelta(minutes=9)).isoformat().replace("+00:00", ".000000Z"),
        series={"count": 4, "lastObservedTime": "2026-03-02T11:58:30.123456Z"},
    )
    [line] = analyse("fraud-scorer", [podset()], [scheduled], since=SINCE, now=NOW).events
    assert (line.count, line.last) == (4, datetime(2026, 3, 2, 11, 58, 30, 123456, tzinfo=UTC))


def test_event_lines_are_bounded_and_the_rest_counted() -> None:
    events = [
        event(
            "Pod",
            f"{RS}-aaaaa",
            "Unhealthy",
            f"Liveness probe failed: {i}",
            last=NOW - timedelta(seconds=i),
        )
        for i in range(MAX_EVENT_LINES + 5)
    ]
    report = analyse("fraud-scorer", [podset()], events, since=SINCE, now=NOW)
    assert len(report.events) == MAX_EVENT_LINES
    assert report.events[0].message == "Liveness probe failed: 0"
    assert (report.event_lines, report.events_total) == (MAX_EVENT_LINES + 5, MAX_EVENT_LINES + 5)


def test_the_log_is_redacted_before_it_is_bounded_and_keeps_its_end() -> None:
    secret_line = (
        "auth failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig, password=hunter2"
    )
    text = "\n".join(
        [
            *(f"warmup {i}" for i in range(40)),
            secret_line,
            "\x1b[31mERROR\x1b[0m CUDA out of memory",
            "x" * 5000,
            "Killed",
            "",
            "",
        ]
    )
    log = log_excerpt(f"{RS}-x2x4k", "model", text)

    assert log.cut
    assert len(log.lines) <= LOG_TAIL_LINES
    assert sum(len(line) + 1 for line in log.lines) <= LOG_CHARS
    assert log.lines[-1] == "Killed"
    assert log.lines[-2] == "x" * (LOG_LINE_CHARS - 1) + "…"
    assert log.lines[-3] == "ERROR CUDA out of memory"
    assert "hunter2" not in "\n".join(log.lines)
    assert "eyJhbGci" not in "\n".join(log.lines)
    [redacted] = [line for line in log.lines if line.startswith("auth failed")]
    assert redacted == f"auth failed: Authorization: Bearer {REDACTED}, password={REDACTED}"
    short = log_excerpt("p", "model", "one\ntwo\n")
    assert (short.lines, short.cut) == (("one", "two"), False)


def test_a_crash_soon_after_the_services_own_change_is_evidence_for_it() -> None:
    deploy = change(at=NOW - timedelta(minutes=8))
    report = analyse(
        "fraud-scorer",
        [
            podset(
                oom_looping("x2x4k", NOW - timedelta(minutes=6)),
                oom_looping("y7y8z", NOW - timedelta(minutes=4)),
            )
        ],
        [],
        since=SINCE,
        now=NOW,
    )
    assert workload_evidence(report.findings, deploy) == [
        f"OOMKilled in 2 pods (first {RS}-x2x4k, container model, now CrashLoopBackOff) 2 min"
    ]
    model = change("model", at=NOW - timedelta(minutes=9), ref="fraud-model 1.4.2")
    one = analyse(
        "fraud-scorer",
        [podset(oom_looping("x2x4k", NOW - timedelta(minutes=6)))],
        [],
        since=SINCE,
        now=NOW,
    )
    assert workload_evidence(one.findings, model) == [
        f"OOMKilled in pod {RS}-x2x4k (container model, now CrashLoopBackOff) 3 min"
    ]
    # Not evidence: a data change, another service's deploy, a crash before the change or long
    # after it, a pod that cannot be scheduled.
    assert workload_evidence(one.findings, change("data", relation="input_dataset")) == []
    assert workload_evidence(one.findings, change(service="payments")) == []
    assert workload_evidence(one.findings, change(at=NOW - timedelta(minutes=5))) == []
    assert workload_evidence(one.findings, change(at=NOW - timedelta(minutes=40))) == []
    stuck = analyse(
        "fraud-scorer",
        [podset(pod("sssss", pods.unschedulable(since=NOW)))],
        [],
        since=SINCE,
        now=NOW,
    )
    assert workload_evidence(stuck.findings, deploy) == []


def test_the_report_round_trips_through_its_json() -> None:
    report = analyse(
        "fraud-scorer",
        [podset(oom_looping("x2x4k", NOW - timedelta(minutes=3)))],
        [event("Pod", f"{RS}-x2x4k", "BackOff", "Back-off restarting failed container")],
        since=SINCE,
        now=NOW,
        notes=["Warning events: not allowed"],
    )
    report = replace(report, log=log_excerpt(f"{RS}-x2x4k", "model", "Killed\n"))
    data = report_json(report)
    assert data["summary"] == report.summary()
    assert data["findings"][0]["at"] == "2026-03-02T11:57:00Z"
    assert report_of(data) == report
    assert findings_of(SourceResult("workload", "ok", data=data)) == report.findings
    assert findings_of(SourceResult("workload", "unavailable", "timed out after 1 s")) == ()
