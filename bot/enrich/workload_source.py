"""The ``workload`` enrichment source: the alerting service's pods as the cluster tells it.

    for each catalog Deployment (MAX_DEPLOYMENTS at most): its ReplicaSets and their pods
    ─> the namespace's Warning events ─> analyse (bot/enrich/workload.py)
    ─> the previous log of the container that ended last ─> SourceResult("workload", data)

Reading the pods must work, or the source is unavailable (the runner says why); the events and
the log are extras: when one of them cannot be read the report says so in its ``notes`` and keeps
the rest. Runs in a worker thread under the source's deadline (bot/enrich/runner.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.clients.kubernetes_pods import Json, PodReader
from bot.enrich.types import SourceResult
from bot.enrich.workload import analyse, log_target, report_json
from bot.enrich.workload_log import LOG_LIMIT_BYTES, LOG_TAIL_LINES, log_excerpt
from bot.errors import ExternalServiceError

SOURCE = "workload"
MAX_DEPLOYMENTS = 4


def read_workload(
    kube: PodReader,
    service: str | None,
    namespace: str,
    deployments: Sequence[str],
    *,
    since: datetime,
    now: datetime,
) -> SourceResult:
    podsets = [kube.deployment_pods(namespace, name) for name in deployments[:MAX_DEPLOYMENTS]]
    notes = []
    events: list[Json] = []
    try:
        events = kube.warning_events(namespace)
    except ExternalServiceError as exc:
        notes.append(f"Warning events: {exc.detail}")
    report = analyse(service, podsets, events, since=since, now=now, notes=notes)
    if (target := log_target(report.findings)) is not None:
        pod, container = target
        try:
            text = kube.previous_log(
                namespace,
                pod,
                container,
                tail_lines=LOG_TAIL_LINES,
                limit_bytes=LOG_LIMIT_BYTES,
            )
        except ExternalServiceError as exc:
            report = replace(report, notes=(*report.notes, f"previous log: {exc.detail}"))
        else:
            if text and text.strip():
                cut = len(text.encode()) >= LOG_LIMIT_BYTES
                report = replace(report, log=log_excerpt(pod, container, text, cut=cut))
    return SourceResult(SOURCE, "ok", data=report_json(report))
