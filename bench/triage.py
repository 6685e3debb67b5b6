"""Triage quality: does the top suspect name the true cause? Labelled scenarios, public endpoints.

    uv run python bench/triage.py              # every scenario once
    uv run python bench/triage.py --repeat 3   # each scenario three times (fresh services)

A real ``opsbot serve`` (SQLite, console transport, no LLM) with a catalog written for the
scenarios of ``bench/triage_scenarios.py``. Each scenario is driven through the bot's public
endpoints only: deploy events (``POST /api/v1/deployments``), OpenLineage runs
(``POST /api/v1/lineage``), MLflow registry webhooks signed as MLflow signs them
(``POST /webhooks/mlflow``), and the state of the Kubernetes API the bot reads (the API fake,
``tests/fakes/kubernetes``: rollouts, pods). Then one Alertmanager webhook, and
``GET /api/v1/incidents/{id}`` until enrichment is done: the first suspect's ``ref`` is compared
with the scenario's label (none named, where nothing related changed).

One warm-up incident goes first and is not counted (the process loads what enrichment uses on
first use). Prints top-1 accuracy and the time per incident (alert sent → enrichment done, as
read back). Target: ≥ 95 % top-1, < 1 s per incident (p95), no LLM. Exit 0 when both are met,
1 when one is missed, 2 when the harness itself cannot run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
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

from bench.triage_scenarios import SCENARIOS, Scenario  # noqa: E402
from tests.fakes.kubernetes.api import KubeApiFake  # noqa: E402
from tests.support import pods  # noqa: E402
from tests.support.server import BotProcess  # noqa: E402

AM_TOKEN = "bench-am-token"
API_TOKEN = "bench-api-token"
MLFLOW_SECRET = "bench-mlflow-secret"
NAMESPACE = "ml-serving"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
TARGET_ACCURACY = 0.95
TARGET_SECONDS = 1.0
# The alert starts this long before the scenario is played, so that changes "after the alert"
# are still in the past when they are sent (the deploy API refuses future times).
ALERT_AGO = timedelta(minutes=5)


def fill(value: Any, prefix: str) -> Any:
    """``{p}`` in every string of a catalog fragment replaced by the scenario's prefix."""
    if isinstance(value, str):
        return value.replace("{p}", prefix)
    if isinstance(value, list):
        return [fill(v, prefix) for v in value]
    if isinstance(value, dict):
        return {fill(k, prefix): fill(v, prefix) for k, v in value.items()}
    return value


def catalog(runs: list[tuple[Scenario, str]]) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for scenario, p in runs:
        services[f"{p}-scorer"] = {
            "namespace": NAMESPACE,
            "deployments": [f"{p}-scorer"],
            "model": f"{p}-model",
            "datasets": [{"namespace": p, "name": f"{p}.features"}],
            **fill(scenario.scorer, p),
        }
        services[f"{p}-payments"] = {"model": f"{p}-payments-model"}
        services.update(fill(scenario.services, p))
    return {"services": services}


class Driver:
    """The ``World`` of the scenarios: every change goes in through a public endpoint."""

    def __init__(self, api: httpx.Client, kube: KubeApiFake, alert_start: datetime) -> None:
        self.api = api
        self.kube = kube
        self.alert_start = alert_start

    def at(self, minutes: float) -> datetime:
        return self.alert_start - timedelta(minutes=minutes)

    def deploy(self, service: str, kind: str, version: str, minutes: float) -> None:
        body = {
            "service": service,
            "kind": kind,
            "version": version,
            "actor": "ci",
            "timestamp": self.at(minutes).isoformat(),
        }
        self.api.post("/api/v1/deployments", json=body).raise_for_status()

    def run(
        self,
        job: str,
        minutes: float,
        *,
        outputs: list[str],
        inputs: list[str] | None = None,
        rows: int = 100_000,
        fields: list[str] | None = None,
        state: str = "COMPLETE",
    ) -> None:
        def dataset(name: str, output: bool) -> dict[str, Any]:
            ds: dict[str, Any] = {"namespace": name.split(".", 1)[0], "name": name, "facets": {}}
            if output and state == "COMPLETE":
                ds["facets"]["schema"] = {
                    "_producer": PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                    "fields": [{"name": f, "type": "DOUBLE"} for f in fields or []],
                }
                ds["outputFacets"] = {
                    "outputStatistics": {
                        "_producer": PRODUCER,
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                        "rowCount": rows,
                    }
                }
            return ds

        run_id = str(uuid.uuid4())
        for event_type, at in (("START", self.at(minutes + 1)), (state, self.at(minutes))):
            body = {
                "eventType": event_type,
                "eventTime": at.isoformat(),
                "run": {"runId": run_id},
                "job": {"namespace": "airflow", "name": job},
                "inputs": [dataset(n, False) for n in inputs or []],
                "outputs": [dataset(n, event_type != "START") for n in outputs],
                "producer": PRODUCER,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            }
            self.api.post("/api/v1/lineage", json=body).raise_for_status()

    def registry(self, entity: str, action: str, minutes: float, **data: Any) -> None:
        """One MLflow webhook delivery, built and signed as ``mlflow/webhooks/delivery.py`` does."""
        payload = json.dumps(
            {
                "entity": entity,
                "action": action,
                "timestamp": self.at(minutes).isoformat(),
                "data": data,
            }
        )
        delivery_id, stamp = str(uuid.uuid4()), str(int(time.time()))
        mac = hmac.new(
            MLFLOW_SECRET.encode(), f"{delivery_id}.{stamp}.{payload}".encode(), hashlib.sha256
        ).digest()
        headers = {
            "Content-Type": "application/json",
            "X-MLflow-Delivery-Id": delivery_id,
            "X-MLflow-Timestamp": stamp,
            "X-MLflow-Signature": "v1," + base64.b64encode(mac).decode(),
        }
        self.api.post("/webhooks/mlflow", content=payload, headers=headers).raise_for_status()

    def rollout(self, service: str, image_tag: str, minutes: float) -> None:
        image = f"registry.example/ml/{service}:{image_tag}"
        self.kube.roll(
            NAMESPACE, service, image, change_cause=f"release {image_tag}", at=self.at(minutes)
        )

    def oom(self, service: str, minutes: float, restarts: int = 3) -> None:
        """A pod of the service's current ReplicaSet OOM-killed ``minutes`` from the alert,
        restarted ``restarts`` times and now in CrashLoopBackOff, with the kubelet's events."""
        at = self.at(minutes)
        pod_name = f"{service}-oom-{uuid.uuid4().hex[:5]}"
        state = pods.crash_loop("model", pod_name, NAMESPACE)
        last = pods.terminated("OOMKilled", 137, at)
        status = pods.running(
            pods.container("model", state=state, last=last, restarts=restarts, ready=False),
            started=at - timedelta(minutes=5),
        )
        pod = self.kube.add_pod(NAMESPACE, service, status, name=pod_name, at=at)
        self.kube.add_event(
            pod,
            "BackOff",
            f"Back-off restarting failed container model in pod {pod_name}",
            count=restarts,
            first=at,
            last=at,
            container="model",
        )


def play(bot_url: str, kube: KubeApiFake, scenario: Scenario, p: str) -> dict[str, Any]:
    alert_start = datetime.now(UTC) - ALERT_AGO
    api = httpx.Client(
        base_url=bot_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    )
    am = httpx.Client(base_url=bot_url, headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
    with api, am:
        scenario.setup(Driver(api, kube, alert_start), p)
        service = f"{p}-scorer"
        labels = {"alertname": "ScorerErrors", "service": service, "severity": "critical"}
        alert = {
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": f"{service} error ratio above 5%"},
            "startsAt": alert_start.isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": uuid.uuid4().hex[:16],
        }
        body = {
            "receiver": "opsbot",
            "status": "firing",
            "alerts": [alert],
            "groupLabels": {"service": service},
            "commonLabels": labels,
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": f'{{}}:{{service="{service}"}}/{uuid.uuid4().hex}',
            "truncatedAlerts": 0,
        }
        sent = time.perf_counter()
        r = am.post("/webhooks/alertmanager", json=body)
        r.raise_for_status()
        incident_id = r.json()["incidents"]["opened"][0]
        deadline = sent + 30
        while True:
            detail = api.get(f"/api/v1/incidents/{incident_id}").json()
            if detail.get("enrichment_state") == "done":
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"incident #{incident_id} not enriched in 30 s")
            time.sleep(0.01)
        seconds = time.perf_counter() - sent
    suspects = detail.get("suspects") or []
    got = suspects[0]["ref"] if suspects else None
    want = scenario.expect(p)
    return {
        "scenario": scenario.name,
        "covers": scenario.covers,
        "want": want,
        "got": got,
        "reason": suspects[0]["reason"] if suspects else "(no suspect named)",
        "ok": got == want,
        "seconds": seconds,
        "sources": {
            name: (r.get("status"), r.get("duration_ms"), r.get("reason"))
            for name, r in (detail.get("enrichment") or {}).items()
        },
    }


def leading(url: str, kind: str, timeout: float = 30.0) -> None:
    """Wait until the bot leads ``kind`` of background work: the bench measures incidents,
    not the start of the process."""
    deadline = time.monotonic() + timeout
    while kind not in httpx.get(f"{url}/readyz", timeout=5).json().get("leads", []):
        if time.monotonic() > deadline:
            raise TimeoutError(f"opsbot did not take the {kind} work in {timeout:g} s")
        time.sleep(0.05)


def run(args: argparse.Namespace) -> int:
    warmup = (SCENARIOS[0], "warmup")
    runs = [
        (s, f"r{r}s{i:02d}")
        for r in range(args.repeat)
        for i, s in enumerate(SCENARIOS, 1)
        if args.only is None or args.only in s.name
    ]
    with tempfile.TemporaryDirectory(prefix="opsbot-triage-") as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "services.yaml").write_text(
            yaml.safe_dump(catalog([warmup, *runs]), sort_keys=False)
        )
        with KubeApiFake() as kube:
            env = {
                "OPSBOT_DATABASE_URL": f"sqlite:///{tmp / 'opsbot.db'}",
                "OPSBOT_ALERTMANAGER_TOKEN": AM_TOKEN,
                "OPSBOT_API_TOKEN": API_TOKEN,
                "OPSBOT_MLFLOW_WEBHOOK_SECRET": MLFLOW_SECRET,
                "OPSBOT_SERVICES_FILE": str(tmp / "services.yaml"),
                "KUBECONFIG": str(kube.write_kubeconfig(tmp / "kubeconfig")),
                "OPSBOT_LOG_LEVEL": "WARNING",
            }
            for _, p in [warmup, *runs]:  # every scorer runs in the cluster, as the catalog says
                kube.add_deployment(
                    NAMESPACE,
                    f"{p}-scorer",
                    f"registry.example/ml/{p}-scorer:1.0.0",
                    at=datetime.now(UTC) - timedelta(days=2),
                )
            with BotProcess(env, log_path=tmp / "bot.log") as bot:
                leading(bot.url, "enrich")
                play(bot.url, kube, *warmup)  # first use loads what enrichment imports lazily
                results = [play(bot.url, kube, scenario, p) for scenario, p in runs]
    return report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> int:
    for r in results:
        mark = "ok  " if r["ok"] else "MISS"
        print(f"{mark} {r['seconds'] * 1000:6.0f} ms  {r['scenario']:<44} {r['reason']}")
        if not r["ok"]:
            print(f"       expected {r['want']!r}, got {r['got']!r}")
        if args.verbose or not r["ok"]:
            print(f"       sources: {r['sources']}")
    right = sum(r["ok"] for r in results)
    accuracy = right / len(results)
    times = sorted(r["seconds"] for r in results)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    covered = sorted({r["covers"] for r in results})
    print()
    print(
        f"triage benchmark: {len(results) // args.repeat} labelled scenarios x {args.repeat}, "
        "SQLite, "
        f"no LLM, Kubernetes API fake, one opsbot process on loopback"
    )
    print(f"covers: {'; '.join(covered)}")
    verdict = "PASS" if accuracy >= TARGET_ACCURACY else "SHORT"
    print(
        f"top-1 accuracy      {right}/{len(results)} = {accuracy:.1%}  (target ≥ 95 %)  {verdict}"
    )
    verdict = "PASS" if p95 < TARGET_SECONDS else "SHORT"
    print(
        f"time per incident   p50 {statistics.median(times) * 1000:.0f} ms   "
        f"p95 {p95 * 1000:.0f} ms   max {times[-1] * 1000:.0f} ms  (target < 1 s)  {verdict}"
    )
    return 0 if accuracy >= TARGET_ACCURACY and p95 < TARGET_SECONDS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="play every scenario this often")
    parser.add_argument("--only", help="only the scenarios whose name contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="each source's status too")
    args = parser.parse_args()
    try:
        return run(args)
    except (OSError, RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        print(f"triage benchmark could not run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
