"""From an incident thread: the root offers the playbook that fits the top suspect; a click starts
it, the approval request with the plan appears in the thread, an allowed person approves, the
rollback is applied once and each step reports in the thread."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.enrich.conftest import FRAUD_CHANNEL, ago, running_bot
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator
from tests.support.slack_requests import click, signed_headers

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [{DEPLOY}]
    channel: {FRAUD_CHANNEL}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      playbooks: ["*"]
      run: ["@sre"]
      approve: ["@sre"]
"""


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("C0INCIDENT", FRAUD_CHANNEL)) as emulator:
        yield emulator


def blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


async def test_a_click_on_the_offered_playbook_rolls_back_after_approval(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    start = ago(seconds=60)
    kube.add_deployment(NS, DEPLOY, "registry/fraud-scorer:2.3.0", at=start - timedelta(hours=3))
    kube.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.1", at=start - timedelta(minutes=6))
    (tmp_path / "services.yaml").write_text(CATALOG)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    async with running_bot(
        sqlite_url,
        tmp_path,
        slack,
        kubeconfig=kubeconfig,
        prometheus_url=None,
        playbooks_dir=Path(__file__).resolve().parents[2] / "playbooks",
    ) as bot:
        await bot.deploy(kind="model", version="1.4.2", timestamp=start - timedelta(minutes=6))
        incident_id = await bot.alert(start, service="fraud-scorer")
        await bot.enrich(incident_id)

        [root] = slack.roots(FRAUD_CHANNEL)
        offers = next(b for b in root["blocks"] if b.get("block_id") == "opsbot_playbooks")
        first = offers["elements"][0]
        assert first["text"]["text"] == "Run rollback-model-deploy"  # fits a model suspect
        assert first["value"] == f"{incident_id}:rollback-model-deploy"

        async def slack_post(body: bytes) -> None:
            headers = signed_headers(body, secret="signing-secret")
            response = await bot.client.post("/slack/events", content=body, headers=headers)
            assert response.status_code == 200

        # A forged value naming a playbook this incident does not offer starts nothing.
        await slack_post(
            click(
                first["action_id"],
                f"{incident_id}:restart-stuck-workers",
                "U0ALICE",
                slack.response_url("forged"),
            )
        )
        await slack.await_for(lambda: len(slack.responses("forged")) == 1, timeout=10)
        assert "not offered" in slack.responses("forged")[0]["text"]

        await slack_post(
            click(first["action_id"], first["value"], "U0ALICE", slack.response_url("start"))
        )
        await slack.await_for(lambda: len(slack.responses("start")) == 1, timeout=20)
        assert "waits for approval in the thread" in slack.responses("start")[0]["text"]
        await bot.rt.sender.drain()
        replies = slack.replies(FRAUD_CHANNEL, root["ts"])
        approval = next(r for r in replies if "Approval needed" in blocks_text(r))
        assert "Roll back ml-serving/fraud-scorer from revision 2" in blocks_text(approval)
        token = next(b for b in approval["blocks"] if b["type"] == "actions")["elements"][0][
            "value"
        ]
        assert [r for r in kube.requests if r[0] == "PATCH"] == []

        await slack_post(click("opsbot_approve", token, "U0BOB", slack.response_url("ok")))
        await slack.await_for(lambda: len(slack.responses("ok")) == 1, timeout=20)
        assert "Done" in slack.responses("ok")[0]["text"]

        def finished() -> bool:
            text = " ".join(blocks_text(r) for r in slack.replies(FRAUD_CHANNEL, root["ts"]))
            return "rollback-model-deploy · report-not-recovered" in text

        for _ in range(100):  # the playbook goes on in the background after the click
            await bot.rt.sender.drain()
            if finished():
                break
            await asyncio.sleep(0.2)
        assert finished()
        spec = kube.deployment(NS, DEPLOY)["spec"]["template"]["spec"]
        assert spec["containers"][0]["image"] == "registry/fraud-scorer:2.3.0"
        assert len([r for r in kube.requests if r[0] == "PATCH"]) == 1
        thread = " ".join(blocks_text(r) for r in slack.replies(FRAUD_CHANNEL, root["ts"]))
        assert "rollback-model-deploy · rollback: Done" in thread
        assert "rollback-model-deploy · wait: Done" in thread
        # The catalog has no error_rate signal: the check cannot run, and the thread says so
        # (and takes the "not recovered" branch) instead of claiming recovery.
        assert "verify: could not fill params: 'dict object' has no attribute 'error_rate'" in (
            thread
        )
        assert "but the error rate has not recovered" in thread
        # The root follows the run: it ended failed (the check could not run).
        expected = "*Playbook* rollback-model-deploy #1: failed (report-not-recovered), started by"
        for _ in range(50):
            await bot.rt.sender.drain()
            if expected in blocks_text(slack.roots(FRAUD_CHANNEL)[0]):
                break
            await asyncio.sleep(0.1)
        assert f"{expected} <@U0ALICE>" in blocks_text(slack.roots(FRAUD_CHANNEL)[0])


async def test_the_approval_request_goes_before_the_informational_messages_of_its_channel(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    # A pace enforced by the emulator (a post over it is refused with a 429), and the bot's own
    # set to the same: a burst that leaves room for every informational message, so only the
    # order of the queue can put the approval request first.
    slack.channel_rate, slack.channel_burst = 4.0, 10
    start = ago(seconds=60)
    kube.add_deployment(NS, DEPLOY, "registry/fraud-scorer:2.3.0", at=start - timedelta(hours=3))
    kube.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.1", at=start - timedelta(minutes=6))
    (tmp_path / "services.yaml").write_text(CATALOG)
    async with running_bot(
        sqlite_url,
        tmp_path,
        slack,
        kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"),
        prometheus_url=None,
        playbooks_dir=Path(__file__).resolve().parents[2] / "playbooks",
        slack_channel_rate=4.0,
        slack_channel_burst=10,
    ) as bot:
        await bot.deploy(kind="model", version="1.4.2", timestamp=start - timedelta(minutes=6))
        incident_id = await bot.alert(start, service="fraud-scorer")
        await bot.enrich(incident_id)
        [root] = slack.roots(FRAUD_CHANNEL)
        offers = next(b for b in root["blocks"] if b.get("block_id") == "opsbot_playbooks")
        first = offers["elements"][0]

        # The channel fills with what the bot says on its own (new incidents: roots and alert
        # lists), then the on-call clicks the offer.
        for n in range(3):
            await bot.alert(start, service="fraud-scorer", alertname=f"FraudScorerLatency{n}")
        posted = len(slack.messages(FRAUD_CHANNEL))
        body = click(first["action_id"], first["value"], "U0ALICE", slack.response_url("start"))
        response = await bot.client.post(
            "/slack/events", content=body, headers=signed_headers(body, secret="signing-secret")
        )
        assert response.status_code == 200
        await slack.await_for(lambda: len(slack.responses("start")) == 1, timeout=20)

        await bot.rt.sender.drain()

        after = slack.messages(FRAUD_CHANNEL)[posted:]
        assert len(after) == 7  # the approval request, then 3 roots and 3 alert lists
        assert after[0]["thread_ts"] == root["ts"]
        assert "Approval needed" in blocks_text(after[0])
        assert "alert(s)" not in blocks_text(after[0])  # nothing informational rode on it
        assert [m["thread_ts"] for m in after[1:4]] == [None] * 3
        assert slack.rate_violations() == []
        assert all(c["status"] != 429 for c in slack.calls("chat.postMessage"))
