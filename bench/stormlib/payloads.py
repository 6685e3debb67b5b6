"""The storm: alert groups, Alertmanager v4 webhook deliveries, and redeliveries.

Every alert carries a unique ``pod`` label (how ``slack_check`` finds it in a reply) and every
group a unique summary (the incident title: how a root message is traced back to its group).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stormlib.common import HarnessError

ZERO_TIME = "0001-01-01T00:00:00Z"
PEER_URLS = ("http://alertmanager-0.alertmanager:9093", "http://alertmanager-1.alertmanager:9093")

# (alertname, what the summary says); a group is one alertname on one service.
ALERT_KINDS = (
    ("ModelLatencyHigh", "p99 inference latency above 500ms"),
    ("PredictionDriftHigh", "prediction drift (PSI) above 0.2"),
    ("FeatureNullRateHigh", "feature null rate above 5%"),
    ("InferenceErrorRateHigh", "inference 5xx rate above 1%"),
    ("GPUMemoryPressure", "GPU memory above 95%"),
    ("ModelThroughputLow", "throughput below 50% of forecast"),
)
SEVERITIES = ("critical", "warning", "warning", "critical", "info")
MODELS = ("ranker", "fraud-scorer", "recsys-two-tower", "churn-xgb", "embedder", "llm-router")
NAMESPACES = ("ml-serving", "ml-batch", "feature-store")


@dataclass
class Group:
    index: int
    alertname: str
    service: str
    severity: str
    model: str
    namespace: str
    summary: str  # becomes the incident title: how a root message is traced back to its group

    @property
    def key(self) -> str:
        return f'{{}}:{{alertname="{self.alertname}", service="{self.service}"}}'


@dataclass
class Delivery:
    body: bytes
    group: int
    alerts: int
    redelivery: bool = False


@dataclass
class Storm:
    groups: list[Group]
    deliveries: list[Delivery]
    pods: dict[str, int]  # pod label (unique per alert) -> group index
    alerts_per_group: Counter[int]

    @property
    def distinct_alerts(self) -> int:
        return len(self.pods)

    @property
    def alerts_sent(self) -> int:
        return sum(d.alerts for d in self.deliveries)

    @property
    def redeliveries(self) -> int:
        return sum(1 for d in self.deliveries if d.redelivery)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_groups(prefix: str, count: int, offset: int = 0) -> list[Group]:
    width = max(3, len(str(max(count - 1, 0))))
    groups = []
    for g in range(count):
        alertname, what = ALERT_KINDS[g % len(ALERT_KINDS)]
        service = f"{prefix}-{g:0{width}d}"
        groups.append(
            Group(
                index=offset + g,
                alertname=alertname,
                service=service,
                severity=SEVERITIES[g % len(SEVERITIES)],
                model=MODELS[g % len(MODELS)],
                namespace=NAMESPACES[g % len(NAMESPACES)],
                summary=f"{alertname} on {service}: {what}",
            )
        )
    return groups


def make_alert(run_id: str, group: Group, j: int, starts_at: datetime) -> dict[str, Any]:
    fp = hashlib.sha256(f"{run_id}|{group.key}|{j}".encode()).hexdigest()[:16]
    pod = f"{group.model}-{group.service}-{j}-{fp[:6]}"
    return {
        "status": "firing",
        "labels": {
            "alertname": group.alertname,
            "service": group.service,
            "severity": group.severity,
            "model": group.model,
            "model_version": f"v{1 + j % 7}",
            "namespace": group.namespace,
            "pod": pod,
            "instance": f"10.{group.index % 250}.{j // 250 % 250}.{j % 250}:8080",
            "team": "ml-platform",
        },
        "annotations": {
            "summary": group.summary,
            "description": f"{group.model} on {pod}: {group.summary.split(': ', 1)[-1]}",
            "runbook_url": f"https://runbooks.example/ml/{group.alertname}",
        },
        "startsAt": iso(starts_at),
        "endsAt": ZERO_TIME,
        "generatorURL": (
            f"http://prometheus.monitoring:9090/graph?g0.expr={group.alertname}"
            f"%7Bservice%3D%22{group.service}%22%7D&g0.tab=1"
        ),
        "fingerprint": fp,
    }


def make_payload(group: Group, alerts: list[dict[str, Any]], external_url: str) -> dict[str, Any]:
    common_labels = dict(alerts[0]["labels"])
    for a in alerts[1:]:
        common_labels = {k: v for k, v in common_labels.items() if a["labels"].get(k) == v}
    common_annotations = dict(alerts[0]["annotations"])
    for a in alerts[1:]:
        common_annotations = {
            k: v for k, v in common_annotations.items() if a["annotations"].get(k) == v
        }
    return {
        "receiver": "opsbot",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": group.alertname, "service": group.service},
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "version": "4",
        "groupKey": group.key,
        "truncatedAlerts": 0,
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def build_storm(
    *,
    run_id: str,
    groups: list[Group],
    alerts: int,
    per_delivery: int,
    redeliver: float,
    spread: int,
    rng: random.Random,
) -> Storm:
    """``alerts`` distinct alerts round-robin over ``groups``, ``per_delivery`` per delivery.

    Deliveries go out group-interleaved (every group's first batch, then every group's second,
    ...), as a storm that hits many services at once. A ``redeliver`` fraction is sent a second
    time a little later (within ``spread`` positions): half as byte-identical retries (same
    peer), half as the other HA peer's copy (same alerts, other ``externalURL``), which only the
    per-alert (fingerprint, startsAt) dedupe can catch.
    """
    now = datetime.now(UTC)
    by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    pods: dict[str, int] = {}
    per_group: Counter[int] = Counter()
    for i in range(alerts):
        group = groups[i % len(groups)]
        j = len(by_group[group.index])
        alert = make_alert(run_id, group, j, now - timedelta(seconds=rng.uniform(5, 600)))
        pod = alert["labels"]["pod"]
        if pod in pods:
            raise HarnessError(f"pod label collision: {pod}")
        pods[pod] = group.index
        per_group[group.index] += 1
        by_group[group.index].append(alert)

    chunks: dict[int, list[list[dict[str, Any]]]] = {
        g: [items[s : s + per_delivery] for s in range(0, len(items), per_delivery)]
        for g, items in by_group.items()
    }
    index = {g.index: g for g in groups}
    originals: list[tuple[Group, list[dict[str, Any]]]] = []
    rounds = max((len(c) for c in chunks.values()), default=0)
    for r in range(rounds):
        for g in sorted(chunks):
            if r < len(chunks[g]):
                originals.append((index[g], chunks[g][r]))

    keyed: list[tuple[float, Delivery]] = []
    for pos, (group, batch) in enumerate(originals):
        body = encode(make_payload(group, batch, PEER_URLS[0]))
        keyed.append((float(pos), Delivery(body, group.index, len(batch))))
    count = round(redeliver * len(originals))
    for n, pos in enumerate(sorted(rng.sample(range(len(originals)), count))):
        group, batch = originals[pos]
        if n % 2 == 0:
            body = keyed[pos][1].body  # the same peer retrying: byte-identical
        else:
            body = encode(make_payload(group, batch, PEER_URLS[1]))  # the other peer's copy
        later = pos + rng.randint(1, max(1, spread)) + 0.5
        keyed.append((later, Delivery(body, group.index, len(batch), redelivery=True)))
    keyed.sort(key=lambda kv: kv[0])
    return Storm(
        groups=groups,
        deliveries=[d for _, d in keyed],
        pods=pods,
        alerts_per_group=per_group,
    )
