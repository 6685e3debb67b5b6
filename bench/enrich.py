"""Enrichment benchmark: alert received → root posted, and → enrichment complete (chart uploaded).

    uv run python bench/enrich.py                 # 50 incidents over 5 services, SQLite
    uv run python bench/enrich.py --incidents 100 --interval 0.3

Everything real except Slack and Kubernetes, all on 127.0.0.1:
  - ``opsbot serve`` (a separate process) with a service catalog of ``--services`` services, each
    with a Kubernetes Deployment, a model, a dataset and three PromQL signals;
  - a real Prometheus (Debian package) scraping an exporter every second;
  - the Kubernetes API fake (``tests/fakes/kubernetes/api.py``) with a rollout history per service;
  - the Slack emulator (``tests/fakes/slack/api.py``) in record-only mode: it posts everything and
    records where the bot posted faster than Slack allows;
  - deploy events and OpenLineage runs posted to the bot's API before the alerts.

Then ``--incidents`` alerts, one every ``--interval`` seconds, round-robin over the services
(each service has its own channel, as the catalog says). For each incident: the time from
sending the webhook to the root message landing in the emulator, and to the chart upload (the
last thing enrichment does). Two warm-up incidents are sent first and not counted.

Targets: root ≤ 300 ms p95; enrichment complete ≤ 1.5 s p95. Exit 0 whatever the figures,
2 when the harness itself cannot run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402

from tests.fakes.kubernetes.api import KubeApiFake  # noqa: E402
from tests.fakes.slack.api import SlackEmulator  # noqa: E402
from tests.integration.promstack import Prometheus  # noqa: E402
from tests.support.exporter import ScriptedExporter  # noqa: E402
from tests.support.server import BotProcess  # noqa: E402

AM_TOKEN = "bench-am-token"
API_TOKEN = "bench-api-token"
WARMUP = 2
TARGET_ROOT_P95_MS = 300.0
TARGET_ENRICH_P95_MS = 1500.0
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def service_names(n: int) -> list[str]:
    return [f"scorer-{i}" for i in range(n)]


def channel_of(service: str) -> str:
    return "C0" + service.upper().replace("-", "")


def catalog_yaml(services: list[str]) -> str:
    entries = {}
    for s in services:
        sel = f'service="{s}"'
        entries[s] = {
            "namespace": "ml-serving",
            "deployments": [s],
            "model": f"{s}-model",
            "datasets": [{"namespace": "warehouse", "name": f"features.{s}"}],
            "channel": channel_of(s),
            "signals": [
                {"name": "error_ratio", "query": f"sum(bench_error_ratio{{{sel}}})"},
                {
                    "name": "p95_latency",
                    "query": f"max(bench_p95_latency_seconds{{{sel}}})",
                    "unit": "s",
                },
                {
                    "name": "throughput",
                    "query": f"sum(rate(bench_requests_total{{{sel}}}[5s]))",
                    "unit": "req/s",
                    "bad": "down",
                },
            ],
        }
    return str(yaml.safe_dump({"services": entries}, sort_keys=False))


def alert_body(service: str, starts_at: datetime) -> dict[str, Any]:
    labels = {"alertname": "ScorerErrors", "service": service, "severity": "critical"}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"{service} error ratio above 5%"},
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    return {
        "receiver": "opsbot",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": "ScorerErrors", "service": service},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{service="{service}"}}/{uuid.uuid4().hex}',
        "truncatedAlerts": 0,
    }


def lineage_event(service: str, at: datetime, rows: int, fields: list[str]) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": at.isoformat(),
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": f"build_{service}_features"},
        "inputs": [],
        "outputs": [
            {
                "namespace": "warehouse",
                "name": f"features.{service}",
                "facets": {
                    "schema": {
                        "_producer": PRODUCER,
                        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                        "fields": [{"name": f, "type": "DOUBLE"} for f in fields],
                    }
                },
                "outputFacets": {
                    "outputStatistics": {
                        "_producer": PRODUCER,
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                        "rowCount": rows,
                    }
                },
            }
        ],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    }


def seed(bot_url: str, kube: KubeApiFake, services: list[str]) -> None:
    now = datetime.now(UTC)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=bot_url, headers=headers, timeout=10) as client:
        for i, s in enumerate(services):
            kube.add_deployment(
                "ml-serving", s, f"registry.example/ml/{s}:1.0.0", at=now - timedelta(hours=5)
            )
            kube.roll(
                "ml-serving",
                s,
                f"registry.example/ml/{s}:1.1.{i}",
                change_cause=f"release 1.1.{i}",
                at=now - timedelta(minutes=8 + i),
            )
            for kind, version, minutes in (("code", f"1.1.{i}", 8 + i), ("model", "2.0.0", 30)):
                r = client.post(
                    "/api/v1/deployments",
                    json={
                        "service": s,
                        "kind": kind,
                        "version": version,
                        "actor": "ci",
                        "timestamp": (now - timedelta(minutes=minutes)).isoformat(),
                    },
                )
                r.raise_for_status()
            for at, rows, fields in (
                (now - timedelta(hours=2), 100_000, ["amount", "currency", "merchant"]),
                (now - timedelta(minutes=20), 55_000, ["amount", "merchant"]),
            ):
                r = client.post("/api/v1/lineage", json=lineage_event(s, at, rows, fields))
                r.raise_for_status()


def find_root(slack: SlackEmulator, channel: str, incident_id: int) -> dict[str, Any] | None:
    marker = f"#{incident_id} "
    for m in slack.roots(channel):
        if marker in json.dumps(m.get("blocks") or []):
            return m
    return None


def chart_posted_at(slack: SlackEmulator, channel: str, root_ts: str) -> float | None:
    for f in slack.files(channel):
        if f.get("thread_ts") == root_ts:
            return float(f["posted_at"])
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> int:
    services = service_names(args.services)
    channels = [channel_of(s) for s in services]
    with tempfile.TemporaryDirectory(prefix="opsbot-enrich-") as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "services.yaml").write_text(catalog_yaml(services))
        with (
            SlackEmulator(channels=("C0INCIDENT", *channels), channel_rate=None) as slack,
            KubeApiFake() as kube,
            ScriptedExporter() as exporter,
        ):
            for s in services:
                exporter.set("bench_error_ratio", 0.01, labels={"service": s})
                exporter.set("bench_p95_latency_seconds", 0.12, labels={"service": s})
                exporter.set_rate("bench_requests_total", 50.0, labels={"service": s})
            kubeconfig = kube.write_kubeconfig(tmp / "kubeconfig")
            with Prometheus(tmp / "prom", exporter.url) as prom:
                env = {
                    "OPSBOT_DATABASE_URL": f"sqlite:///{tmp / 'opsbot.db'}",
                    "OPSBOT_ALERTMANAGER_TOKEN": AM_TOKEN,
                    "OPSBOT_API_TOKEN": API_TOKEN,
                    "SLACK_BOT_TOKEN": slack.bot_token,
                    "SLACK_SIGNING_SECRET": "bench-signing-secret",
                    "OPSBOT_SLACK_API_URL": slack.api_url,
                    "OPSBOT_INCIDENT_CHANNEL": "C0INCIDENT",
                    "OPSBOT_SERVICES_FILE": str(tmp / "services.yaml"),
                    "OPSBOT_PROMETHEUS_URL": prom.url,
                    "KUBECONFIG": str(kubeconfig),
                    "OPSBOT_METRICS_WINDOW_MIN": "5",
                    "OPSBOT_LOG_LEVEL": "WARNING",
                }
                with BotProcess(env, log_path=tmp / "bot.log") as bot:
                    seed(bot.url, kube, services)
                    log(f"seeded {len(services)} services; Prometheus at {prom.url}")
                    time.sleep(args.baseline)  # a few scrapes of baseline for the charts
                    return measure(args, bot, slack, services)


def measure(
    args: argparse.Namespace, bot: BotProcess, slack: SlackEmulator, services: list[str]
) -> int:
    sent: list[tuple[int, str, float]] = []  # (incident id, channel, sent at)
    headers = {"Authorization": f"Bearer {AM_TOKEN}"}
    total = WARMUP + args.incidents
    with httpx.Client(base_url=bot.url, headers=headers, timeout=10) as client:
        for i in range(total):
            service = services[i % len(services)]
            body = alert_body(service, datetime.now(UTC) - timedelta(seconds=5))
            t0 = time.monotonic()
            r = client.post("/webhooks/alertmanager", json=body)
            r.raise_for_status()
            opened = r.json()["incidents"]["opened"]
            sent.append((opened[0], channel_of(service), t0))
            time.sleep(args.interval)
    log(f"sent {total} alerts ({WARMUP} warm-up); waiting for every chart")
    deadline = time.monotonic() + args.wait
    roots: dict[int, float] = {}
    charts: dict[int, float] = {}
    while time.monotonic() < deadline and len(charts) < total:
        for incident_id, channel, _ in sent:
            if incident_id in charts:
                continue
            root = find_root(slack, channel, incident_id)
            if root is None:
                continue
            roots[incident_id] = float(root["posted_at"])
            at = chart_posted_at(slack, channel, root["ts"])
            if at is not None:
                charts[incident_id] = at
        time.sleep(0.2)

    measured = sent[WARMUP:]
    root_ms = [(roots[i] - t0) * 1000 for i, _, t0 in measured if i in roots]
    enrich_ms = [(charts[i] - t0) * 1000 for i, _, t0 in measured if i in charts]
    sources = source_durations(bot.url, [i for i, _, _ in measured])
    report(args, root_ms, enrich_ms, sources, len(measured), slack)
    return 0


def source_durations(url: str, ids: list[int]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    ) as client:
        for incident_id in ids:
            body = client.get(f"/api/v1/incidents/{incident_id}").json()
            for source, result in body.get("enrichment", {}).items():
                if result["status"] == "ok":
                    out.setdefault(source, []).append(result["duration_ms"])
    return out


def report(
    args: argparse.Namespace,
    root_ms: list[float],
    enrich_ms: list[float],
    sources: dict[str, list[float]],
    expected: int,
    slack: SlackEmulator,
) -> None:
    def line(name: str, values: list[float], target: float | None) -> str:
        if not values:
            return f"{name:<28} no samples"
        p95 = pct(values, 0.95)
        verdict = "" if target is None else ("  PASS" if p95 <= target else "  SHORT")
        return (
            f"{name:<28} n={len(values):<3} p50 {statistics.median(values):7.1f} ms   "
            f"p95 {p95:7.1f} ms   max {max(values):7.1f} ms{verdict}"
        )

    print()
    print(
        f"enrichment benchmark: {expected} incidents, {args.services} services, "
        f"one every {args.interval:g} s, SQLite, Prometheus + K8s fake on loopback"
    )
    print(line("alert → root posted", root_ms, TARGET_ROOT_P95_MS))
    print(line("alert → chart uploaded", enrich_ms, TARGET_ENRICH_P95_MS))
    for source in ("deploys", "rollouts", "data", "metrics", "suspects", "chart"):
        print(line(f"  source {source}", sources.get(source, []), None))
    missing = expected - len(enrich_ms)
    print(f"incidents without a chart after {args.wait:g} s: {missing}")
    print(f"Slack rate violations recorded by the emulator: {len(slack.rate_violations())}")
    print(
        f"targets: root p95 ≤ {TARGET_ROOT_P95_MS:g} ms, "
        f"enrichment p95 ≤ {TARGET_ENRICH_P95_MS:g} ms"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--incidents", type=int, default=50)
    p.add_argument("--services", type=int, default=5)
    p.add_argument("--interval", type=float, default=0.6, help="seconds between alerts")
    p.add_argument("--baseline", type=float, default=8.0, help="seconds of metrics before alerts")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the last chart")
    args = p.parse_args(argv)
    try:
        return run(args)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        log(f"harness error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
