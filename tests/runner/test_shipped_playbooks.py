"""Every playbook in playbooks/ loads, runs in dry-run changing nothing, and runs for real end to
end: approval, the Kubernetes API fake, a real Prometheus for the checks, the thread report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.catalog.load import parse_catalog
from bot.clients.kubernetes import KubeClient
from bot.clients.prometheus import PromClient
from bot.clients.set import Clients
from bot.runner.context import service_context
from bot.runner.execute import Executor
from bot.runner.graph import PlaybookRunner, checkpointer_for
from bot.runner.playbook import load_dir, matches
from tests.fakes.kubernetes.api import KubeApiFake
from tests.integration.promstack import Prometheus, wait_until
from tests.support.exporter import ScriptedExporter
from tests.support.server import ROOT

pytestmark = pytest.mark.integration

NS, DEPLOY, BATCH, CRON = "ml-serving", "fraud-scorer", "ml-batch", "features-build"
SEL = 'service="fraud-scorer"'
CATALOG = f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [{DEPLOY}]
    signals:
      - {{name: error_rate, query: 'max(opsbot_test_error_ratio{{{SEL}}})'}}
      - {{name: p95_latency, query: 'max(opsbot_test_p95_seconds{{{SEL}}})'}}
      - {{name: throughput, query: 'sum(rate(opsbot_test_requests_total{{{SEL}}}[5s]))'}}
      - {{name: drift_score, query: 'max(opsbot_test_drift{{{SEL}}})'}}
pipelines:
  features: {{kind: cronjob, namespace: {BATCH}, cronjob: {CRON}, timeout_s: 60}}
policy:
  namespaces: [{NS}, {BATCH}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment, scale_deployment, restart_deployment, rerun_pipeline]
      playbooks: ["*"]
      run: ["@sre"]
      approve: ["@sre"]
"""
# Short holds so the checks pass in seconds, not the shipped 60 s.
FAST = {"hold_s": "2", "verify_timeout_s": "20"}


@dataclass
class Stack:
    runner: PlaybookRunner
    kube: KubeApiFake
    said: list[str]


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ScriptedExporter() as exporter:
        labels = {"service": "fraud-scorer"}
        exporter.set("opsbot_test_error_ratio", 0.01, labels=labels)
        exporter.set("opsbot_test_p95_seconds", 0.12, labels=labels)
        exporter.set("opsbot_test_drift", 0.05, labels=labels)
        exporter.set_rate("opsbot_test_requests_total", 20.0, labels=labels)
        with Prometheus(tmp_path_factory.mktemp("prom"), exporter.url) as prom:
            client = PromClient(prom.url)
            since = datetime.now(UTC) - timedelta(seconds=30)
            wait_until(
                lambda: (
                    len(
                        client.query_range(
                            f"sum(rate(opsbot_test_requests_total{{{SEL}}}[5s]))",
                            since,
                            datetime.now(UTC),
                            1.0,
                        )
                    )
                    >= 4
                ),
                40,
                "a few seconds of every signal",
                prom.log_tail,
            )
            yield prom.url


@pytest.fixture
def stack(
    sqlite_url: str, engine: Engine, metrics: str, kube: KubeApiFake, kc: KubeClient
) -> Iterator[Stack]:
    kube.auto_complete_jobs(True)
    kube.create("cronjobs", BATCH, cronjob())
    prom = PromClient(metrics)
    said: list[str] = []
    executor = Executor(
        engine,
        parse_catalog(CATALOG),
        Clients(kube=kc, prom=prom),
        say=lambda _i, text: said.append(text),
    )
    playbooks, problems = load_dir(ROOT / "playbooks")
    assert problems == []
    saver, close = checkpointer_for(sqlite_url)
    yield Stack(PlaybookRunner(engine, executor, playbooks, saver), kube, said)
    close()


def cronjob() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": CRON},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "build", "image": "reg/features:7"}],
                        }
                    }
                }
            },
        },
    }


def writes(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] in ("PATCH", "PUT", "POST", "DELETE")]


SHIPPED = [
    "rollback-model-deploy",
    "scale-up-serving",
    "rerun-feature-pipeline",
    "restart-stuck-workers",
]
# Run end to end through Slack in tests/chat/test_slack_serving_playbooks.py.
SERVING = ["shift-canary-traffic-back", "abort-model-rollout"]


def test_every_shipped_playbook_is_a_real_multi_step_runbook() -> None:
    playbooks, problems = load_dir(ROOT / "playbooks")
    assert problems == []
    assert sorted(playbooks) == sorted(SHIPPED + SERVING)
    for pb in playbooks.values():
        actions = [s.action for s in pb.steps]
        assert len(actions) >= 3, pb.name
        assert pb.steps[0].approval == "required", pb.name
        assert "check_metric" in actions, pb.name
        assert actions[-1] == "post_message" or actions[-2] == "post_message", pb.name


@pytest.mark.parametrize(
    ("serving", "offered"),
    [
        ("deployment", "rollback-model-deploy"),
        ("inferenceservice", "shift-canary-traffic-back"),
        ("rollout", "abort-model-rollout"),
    ],
)
def test_a_model_suspect_gets_the_playbook_of_how_the_service_is_served(
    serving: str, offered: str
) -> None:
    playbooks, _ = load_dir(ROOT / "playbooks")
    fitting = [p.name for p in playbooks.values() if matches(p, {}, "model", "svc", serving)]
    assert fitting == [offered]


@pytest.mark.parametrize("name", SHIPPED)
def test_dry_run_changes_nothing(stack: Stack, name: str) -> None:
    view = stack.runner.start(
        name,
        actor="U0ALICE",
        context=service_context(stack.runner.executor.catalog, "fraud-scorer"),
        params=FAST,
        dry_run=True,
    )
    assert view.status == "succeeded", view.steps
    assert {r["status"] for r in view.steps.values()} <= {"dry_run", "skipped"}
    assert writes(stack.kube) == []
    assert stack.said == []


@pytest.mark.parametrize("name", SHIPPED)
def test_a_real_run_is_approved_applied_verified_and_reported(stack: Stack, name: str) -> None:
    runner = stack.runner
    view = runner.start(
        name,
        actor="U0ALICE",
        context=service_context(runner.executor.catalog, "fraud-scorer"),
        params=FAST,
    )
    assert view.status == "waiting"
    assert view.waiting_for
    assert writes(stack.kube) == []
    approved = runner.executor.approve(view.waiting_for, "U0BOB")
    assert approved.status == "succeeded", approved.message
    done = runner.resume(view.id)
    assert done.status == "succeeded", done.steps
    assert all(r["ok"] for r in done.steps.values()), done.steps
    assert len(stack.said) == 1
    deployment = stack.kube.deployment(NS, DEPLOY)
    template = deployment["spec"]["template"]
    if name == "rollback-model-deploy":
        assert template["spec"]["containers"][0]["image"] == "registry/fraud-scorer:2.3.0"
        assert stack.said[0].startswith("Rolled back fraud-scorer")
    elif name == "scale-up-serving":
        assert deployment["spec"]["replicas"] == 6
        assert "p95 latency is back under 0.5 s." in stack.said[0]
    elif name == "rerun-feature-pipeline":
        assert len(stack.kube.jobs(BATCH)) == 1
        assert "Drift is back under 0.3." in stack.said[0]
    else:
        annotations = template["metadata"].get("annotations", {})
        assert "kubectl.kubernetes.io/restartedAt" in annotations
        assert "Throughput is back." in stack.said[0]
