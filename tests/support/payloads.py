"""Alertmanager v4 payloads shaped like the real ones in tests/data, for many alerts/groups."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

ZERO = "0001-01-01T00:00:00Z"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fingerprint(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def am_alert(
    service: str,
    n: int,
    *,
    status: str = "firing",
    starts_at: datetime | None = None,
    alertname: str = "ModelLatencyHigh",
    severity: str = "critical",
) -> dict[str, Any]:
    start = starts_at or datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    end = iso(start + timedelta(minutes=5)) if status == "resolved" else ZERO
    labels = {
        "alertname": alertname,
        "service": service,
        "severity": severity,
        "instance": f"{service}-{n}:8000",
        "namespace": "ml-serving",
    }
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": f"{alertname} on {service}",
            "description": f"p95 latency above 500ms on {service}-{n}",
            "runbook_url": f"https://runbooks.example/{service}",
        },
        "startsAt": iso(start),
        "endsAt": end,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
        "fingerprint": fingerprint(alertname, service, n),
    }


def am_payload(
    service: str, alerts: list[dict[str, Any]], *, alertname: str = "ModelLatencyHigh"
) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    group = {"alertname": alertname, "service": service}
    return {
        "receiver": "opsbot",
        "status": status,
        "alerts": alerts,
        "groupLabels": group,
        "commonLabels": {**group, "severity": alerts[0]["labels"]["severity"]},
        "commonAnnotations": {"summary": f"{alertname} on {service}"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        "truncatedAlerts": 0,
    }
