"""End to end through Slack for a service served by a KServe InferenceService or an Argo
Rollout: alert → incident → the root offers the playbook of how it is served (not the Deployment
rollback) → a click starts it → the approval request shows the plan in the thread → an allowed
person approves → the custom resource is patched once (a second click changes nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.chat.test_slack_playbook_offer import blocks_text
from tests.enrich.conftest import FRAUD_CHANNEL, ago, running_bot
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator
from tests.support.slack_requests import click, signed_headers

NS = "ml-serving"


@dataclass(frozen=True)
class Served:
    kind: str  # the catalog's serving.kind
    name: str  # the object's name
    playbook: str
    action: str
    plan_words: str  # in the approval request
    path: str  # what gets patched
    thread_words: str  # the enrichment's serving line

    def seed(self, kube: KubeApiFake) -> None:
        if self.kind == "inferenceservice":
            kube.add_inferenceservice(NS, self.name, "s3://models/fraud/3")
        else:
            kube.add_rollout(NS, self.name, ["reg/fraud-scorer:1.1", "reg/fraud-scorer:1.2"])

    def done(self, kube: KubeApiFake) -> bool:
        if self.kind == "inferenceservice":
            spec = kube.inferenceservice(NS, self.name)["spec"]["predictor"]
            return bool(spec.get("canaryTrafficPercent") == 0)
        return bool(kube.rollout(NS, self.name)["status"].get("abort"))


KSERVE = Served(
    "inferenceservice",
    "fraud-model",
    "shift-canary-traffic-back",
    "canary_traffic",
    f"Send all traffic of {NS}/fraud-model back to fraud-model-predictor-00002",
    f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/fraud-model",
    "InferenceService fraud-model: canary fraud-model-predictor-00003 at 10%. Traffic: 90% "
    "fraud-model-predictor-00002 (prev), 10% fraud-model-predictor-00003 (canary)",
)
ARGO = Served(
    "rollout",
    "fraud-scorer",
    "abort-model-rollout",
    "abort_rollout",
    f"Abort the update of rollout {NS}/fraud-scorer",
    f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/fraud-scorer/status",
    "Rollout fraud-scorer: Paused at step 3/8, canary 20%, stable rs ",
)


def catalog(served: Served) -> str:
    return f"""
services:
  fraud-scorer:
    namespace: {NS}
    channel: {FRAUD_CHANNEL}
    model: fraud-model
    serving: {{kind: {served.kind}, name: {served.name}}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [{served.action}]
      playbooks: ["*"]
      run: ["@sre"]
      approve: ["@sre"]
"""


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("C0INCIDENT", FRAUD_CHANNEL)) as emulator:
        yield emulator


@pytest.mark.parametrize("served", [KSERVE, ARGO], ids=["inferenceservice", "rollout"])
async def test_the_offered_serving_playbook_patches_the_custom_resource_after_approval(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake, served: Served
) -> None:
    start = ago(seconds=60)
    served.seed(kube)
    (tmp_path / "services.yaml").write_text(catalog(served))
    async with running_bot(
        sqlite_url,
        tmp_path,
        slack,
        kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"),
        prometheus_url=None,
        playbooks_dir=Path(__file__).resolve().parents[2] / "playbooks",
    ) as bot:
        await bot.deploy(kind="model", version="3", timestamp=start - timedelta(minutes=6))
        incident_id = await bot.alert(start, service="fraud-scorer")
        await bot.enrich(incident_id)

        [root] = slack.roots(FRAUD_CHANNEL)
        await bot.rt.sender.drain()
        thread = " ".join(blocks_text(r) for r in slack.replies(FRAUD_CHANNEL, root["ts"]))
        assert served.thread_words in thread
        offers = next(b for b in root["blocks"] if b.get("block_id") == "opsbot_playbooks")
        names = [e["text"]["text"] for e in offers["elements"]]
        assert names[0] == f"Run {served.playbook}"
        assert "Run rollback-model-deploy" not in names
        first = offers["elements"][0]

        async def slack_post(body: bytes) -> None:
            headers = signed_headers(body, secret="signing-secret")
            response = await bot.client.post("/slack/events", content=body, headers=headers)
            assert response.status_code == 200

        await slack_post(
            click(first["action_id"], first["value"], "U0ALICE", slack.response_url("start"))
        )
        await slack.await_for(lambda: len(slack.responses("start")) == 1, timeout=20)
        await bot.rt.sender.drain()
        replies = slack.replies(FRAUD_CHANNEL, root["ts"])
        approval = next(r for r in replies if "Approval needed" in blocks_text(r))
        assert served.plan_words in blocks_text(approval)
        token = next(b for b in approval["blocks"] if b["type"] == "actions")["elements"][0][
            "value"
        ]
        assert [r for r in kube.requests if r[0] == "PATCH"] == []

        await slack_post(click("opsbot_approve", token, "U0BOB", slack.response_url("ok")))
        await slack_post(click("opsbot_approve", token, "U0ALICE", slack.response_url("again")))
        await slack.await_for(lambda: len(slack.responses("ok")) == 1, timeout=20)
        await slack.await_for(lambda: len(slack.responses("again")) == 1, timeout=20)
        assert "Done" in slack.responses("ok")[0]["text"]
        assert "Already approved" in slack.responses("again")[0]["text"]

        def finished() -> bool:
            text = " ".join(blocks_text(r) for r in slack.replies(FRAUD_CHANNEL, root["ts"]))
            return f"{served.playbook} · report-not-recovered" in text

        await _until(bot, finished)
        assert served.done(kube)
        patches = [r for r in kube.requests if r[0] == "PATCH"]
        assert patches == [("PATCH", served.path, "application/merge-patch+json")]


async def _until(bot: object, done: Callable[[], bool]) -> None:
    for _ in range(100):  # the playbook goes on in the background after the click
        await bot.rt.sender.drain()  # type: ignore[attr-defined]
        if done():
            return
        await asyncio.sleep(0.2)
    assert done()


async def test_the_serving_line_is_unavailable_with_the_reason_when_it_cannot_be_read(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=60)
    ARGO.seed(kube)
    kube.deny("get", "rollouts", NS)
    (tmp_path / "services.yaml").write_text(catalog(ARGO))
    async with running_bot(
        sqlite_url,
        tmp_path,
        slack,
        kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"),
        prometheus_url=None,
        playbooks_dir=Path(__file__).resolve().parents[2] / "playbooks",
    ) as bot:
        await bot.deploy(kind="model", version="3", timestamp=start - timedelta(minutes=6))
        incident_id = await bot.alert(start, service="fraud-scorer")
        await bot.enrich(incident_id)
        await bot.rt.sender.drain()
        [root] = slack.roots(FRAUD_CHANNEL)
        thread = " ".join(blocks_text(r) for r in slack.replies(FRAUD_CHANNEL, root["ts"]))
        assert "Model serving: kubernetes: not allowed" in thread
        assert "Suspects" in thread  # the other sources were not held up
