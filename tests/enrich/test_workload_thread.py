"""The ``workload`` source in a new incident's thread: a deploy, then its pods OOMKilled. Real
app on SQLite, the Slack emulator, and the Kubernetes API fake enforcing the chart's Role (so
these tests also prove the Role grants what the source reads: tests/deploy/
test_chart_role_proof.py names the first one for ``list`` pods, ``get`` pods/log and ``list``
events)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from bot.enrich.workload import TIMES
from bot.text.slack_safe import ZWSP
from tests.enrich.conftest import FRAUD_CHANNEL, Bot, ago, running_bot
from tests.enrich.test_enrichment_thread import text_of, thread_of
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator
from tests.support import pods

NS, DEPLOY = "ml-serving", "fraud-scorer"
CRASH_LOG = (
    "loading fraud-model 1.4.2\n"
    "connecting with Authorization: Bearer sk-live-0123456789abcdefghij\n"
    "<!channel> allocating 14.2 GiB for the embedding table\n"
    "Killed\n"
)


def seed(kube: KubeApiFake, start: datetime) -> tuple[str, str, str]:
    """fraud-scorer rolled to 2.3.1 six minutes before the alert; two of its new pods OOMKilled
    since (now in CrashLoopBackOff), one Pending for want of a GPU. The pods' names: the first
    to crash, the latest, the Pending one."""
    image = "registry.example/ml/fraud-scorer"
    kube.add_deployment(
        NS, DEPLOY, f"{image}:2.3.0", container="model", at=start - timedelta(hours=3)
    )
    kube.roll(
        NS, DEPLOY, f"{image}:2.3.1", change_cause="release 2.3.1", at=start - timedelta(minutes=6)
    )
    crashed = []
    for minutes in (4, 2):
        finished = start - timedelta(minutes=minutes)
        status = pods.running(
            pods.container(
                state=pods.crash_loop("model", "p"),
                last=pods.terminated("OOMKilled", 137, finished),
                restarts=2,
                ready=False,
                image=f"{image}:2.3.1",
            )
        )
        pod = kube.add_pod(NS, DEPLOY, status, at=start - timedelta(minutes=6))
        crashed.append(pod["metadata"]["name"])
        kube.add_event(
            pod,
            "BackOff",
            f"Back-off restarting failed container model in pod {pod['metadata']['name']}",
            count=3,
            last=finished + timedelta(seconds=30),
            container="model",
        )
    kube.set_log(NS, crashed[-1], "model", CRASH_LOG, previous=True)
    stuck = kube.add_pod(NS, DEPLOY, pods.unschedulable(since=start - timedelta(minutes=6)))
    kube.add_event(
        stuck,
        "FailedScheduling",
        pods.GPU_MESSAGE,
        count=4,
        first=start - timedelta(minutes=6),
        last=start - timedelta(minutes=1),
        component="default-scheduler",
        series=True,
    )
    return crashed[0], crashed[1], stuck["metadata"]["name"]


async def alert_after_a_deploy(bot: Bot, start: datetime) -> int:
    await bot.deploy(
        kind="code", version="2.3.1", actor="ci", timestamp=start - timedelta(minutes=6)
    )
    return await bot.alert(start, service=DEPLOY)


async def test_pods_oom_killed_after_a_deploy_are_evidence_and_shown_in_the_thread(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=60)
    first, latest, stuck = seed(kube, start)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(sqlite_url, tmp_path, slack, kubeconfig=kubeconfig) as bot:
        incident_id = await alert_after_a_deploy(bot, start)
        outcome = await bot.enrich(incident_id)

        assert outcome.results["workload"].status == "ok", outcome.results["workload"]
        top = outcome.suspects[0]
        assert top.ref == "fraud-scorer:2.3.1"
        assert top.reason == (
            "fraud-scorer:2.3.1 deployed 6 min before the alert; OOMKilled in 2 pods "
            f"(first {first}, container model, now CrashLoopBackOff) 2 min after it"
        )

        root, replies = thread_of(slack, FRAUD_CHANNEL)
        assert "OOMKilled in 2 pods" in text_of(root)  # the likely cause on the root
        [reply] = [r for r in replies if "Suspects" in text_of(r)]
        sections = [b for b in reply["blocks"] if b["type"] == "section"]
        [summary] = [b for b in sections if b["text"]["text"].startswith("*Pods:*")]
        assert summary["text"]["text"] == (
            f"*Pods:* 4 restarts (OOMKilled {TIMES}2, last 3 min ago) · 2 in CrashLoopBackOff · "
            "1 Pending: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu · "
            "10 Warning events"
        )
        details, log = [b["text"]["text"] for b in sections if b.get("expand") is False]
        assert f"*OOMKilled* {latest}/model — exit code 137, 2 restarts" in details
        assert f"{TIMES}4 Pod {stuck} *FailedScheduling*" in details
        assert "*BackOff*" in details
        assert log.startswith(f"*Previous log of {latest}/model*")
        assert "Killed\n```" in log
        assert "sk-live-0123456789abcdefghij" not in log  # redacted
        assert f"@{ZWSP}channel allocating 14.2 GiB" in log  # no broadcast
        assert "<!channel>" not in text_of(reply)

        detail = await bot.incident(incident_id)
        workload = detail["enrichment"]["workload"]
        assert workload["status"] == "ok"
        assert workload["data"]["summary"] == summary["text"]["text"].replace("*Pods:*", "Pods:")
        assert workload["data"]["log"]["lines"][-1] == "Killed"
        assert kube.forbidden_requests == []


async def test_kubernetes_refusing_the_pods_shows_the_source_unavailable_and_the_rest_arrives(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=60)
    seed(kube, start)
    kube.deny("list", "pods", NS)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(sqlite_url, tmp_path, slack, kubeconfig=kubeconfig) as bot:
        outcome = await bot.enrich(await alert_after_a_deploy(bot, start))

        workload = outcome.results["workload"]
        assert workload.status == "unavailable"
        assert workload.reason is not None
        assert workload.reason.startswith("kubernetes: not allowed: pods is forbidden")
        assert outcome.results["rollouts"].status == "ok"
        assert outcome.suspects[0].reason == "fraud-scorer:2.3.1 deployed 6 min before the alert"
        _, replies = thread_of(slack, FRAUD_CHANNEL)
        body = text_of(replies[-1])
        assert "Kubernetes pods: kubernetes: not allowed" in body
        assert "*Pods:*" not in body


async def test_a_hanging_pod_list_times_out_without_holding_up_the_others(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=60)
    seed(kube, start)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url, tmp_path, slack, kubeconfig=kubeconfig, enrich_timeout_s=0.5
    ) as bot:
        incident_id = await alert_after_a_deploy(bot, start)
        kube.delay_next(5.0, path=f"/namespaces/{NS}/pods")
        began = time.monotonic()
        outcome = await bot.rt.enrichment.enricher.enrich(incident_id)
        took = time.monotonic() - began
        assert outcome is not None
        reason = outcome.results["workload"].reason or ""
        assert outcome.results["workload"].status == "unavailable"
        assert reason == "timed out after 0.5 s" or reason.endswith("within 0.5s"), reason
        assert outcome.results["rollouts"].status == "ok"
        assert outcome.results["deploys"].status == "ok"
        assert took < 3.0
