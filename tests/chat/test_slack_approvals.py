"""Approvals in Slack, through Bolt: `/ops rollback` posts the plan with buttons that carry only
an opaque token; the first allowed click runs it once; a second click, a stranger's click and a
forged token are answered privately and change nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.kube import roll_fraud_scorer
from tests.support.slack_requests import SIGNING_SECRET, click, post, slash_command

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = f"""
services:
  fraud-scorer: {{namespace: {NS}, deployments: [{DEPLOY}]}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      run: ["@sre", U0ONCALL]
      approve: ["@sre", S0DBAS]
"""


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("C0INCIDENT",)) as emulator:
        yield emulator


@pytest.fixture
def kube(kube: KubeApiFake) -> KubeApiFake:
    """tests/conftest.py's ``kube``, with ml-serving/fraud-scorer rolled to 2.3.1 an hour ago."""
    roll_fraud_scorer(kube)
    return kube


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, kubeconfig: Path, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "services.yaml").write_text(CATALOG)
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        services_file=tmp_path / "services.yaml",
        kubeconfig=kubeconfig,
    )
    async with asgi_client(app) as c:
        yield c
        for close in app.state.runtime.closers:
            close()


def image(kube: KubeApiFake) -> str:
    return str(kube.deployment(NS, DEPLOY)["spec"]["template"]["spec"]["containers"][0]["image"])


def patches(kube: KubeApiFake) -> int:
    return sum(1 for r in kube.requests if r[0] == "PATCH")


async def test_the_first_allowed_click_rolls_back_once(
    client: httpx.AsyncClient, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    await post(client, slash_command("rollback fraud-scorer", slack.response_url("ask")))
    await slack.await_for(lambda: len(slack.responses("ask")) == 1, timeout=10)
    [ask] = slack.responses("ask")
    assert ask["response_type"] == "in_channel"
    assert "Roll back ml-serving/fraud-scorer" in json.dumps(ask["blocks"])
    actions = next(b for b in ask["blocks"] if b["type"] == "actions")
    token = actions["elements"][0]["value"]
    assert {e["value"] for e in actions["elements"]} == {token}  # the token and nothing else
    assert DEPLOY not in token
    assert patches(kube) == 0

    # A stranger clicks first: told privately, nothing runs.
    await post(client, click("opsbot_approve", token, "U0MALLORY", slack.response_url("m")))
    await slack.await_for(lambda: len(slack.responses("m")) == 1, timeout=10)
    [refusal] = slack.responses("m")
    assert refusal["response_type"] == "ephemeral"
    assert "U0MALLORY may not approve" in refusal["text"]
    assert patches(kube) == 0

    await post(client, click("opsbot_approve", token, "U0ALICE", slack.response_url("a")))
    await slack.await_for(lambda: len(slack.responses("a")) == 1, timeout=20)
    [done] = slack.responses("a")
    assert done.get("replace_original") is True
    assert "Done" in done["text"]
    assert "<@U0ALICE>" in done["text"]
    assert image(kube) == "registry/fraud-scorer:2.3.0"
    assert patches(kube) == 1

    # Bob clicks the same (stale) button: he is told who approved; nothing runs again.
    await post(client, click("opsbot_approve", token, "U0BOB", slack.response_url("b")))
    await slack.await_for(lambda: len(slack.responses("b")) == 1, timeout=10)
    [late] = slack.responses("b")
    assert late["response_type"] == "ephemeral"
    assert "Already approved by <@U0ALICE>" in late["text"]
    assert patches(kube) == 1


async def test_a_forged_token_runs_nothing(
    client: httpx.AsyncClient, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    await post(client, click("opsbot_approve", "made-up-token", "U0ALICE", slack.response_url("f")))
    await slack.await_for(lambda: len(slack.responses("f")) == 1, timeout=10)
    [answer] = slack.responses("f")
    assert answer["response_type"] == "ephemeral"
    assert "unknown" in answer["text"]
    assert patches(kube) == 0


async def test_dry_run_answers_privately_with_the_plan(
    client: httpx.AsyncClient, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    await post(client, slash_command("rollback fraud-scorer --dry-run", slack.response_url("d")))
    await slack.await_for(lambda: len(slack.responses("d")) == 1, timeout=10)
    [answer] = slack.responses("d")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Dry run, nothing changed. Would: Roll back")
    assert patches(kube) == 0


async def test_a_slack_user_group_in_the_policy_is_resolved_through_slack(
    client: httpx.AsyncClient, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    slack.add_usergroup("S0DBAS", ["U0DAVE"])
    await post(client, slash_command("rollback fraud-scorer", slack.response_url("ask")))
    await slack.await_for(lambda: len(slack.responses("ask")) == 1, timeout=10)
    actions = next(b for b in slack.responses("ask")[0]["blocks"] if b["type"] == "actions")
    token = actions["elements"][0]["value"]
    await post(client, click("opsbot_approve", token, "U0EVE", slack.response_url("eve")))
    await slack.await_for(lambda: len(slack.responses("eve")) == 1, timeout=10)
    assert slack.responses("eve")[0]["response_type"] == "ephemeral"
    assert patches(kube) == 0
    await post(client, click("opsbot_approve", token, "U0DAVE", slack.response_url("dave")))
    await slack.await_for(lambda: len(slack.responses("dave")) == 1, timeout=20)
    assert "Done" in slack.responses("dave")[0]["text"]
    assert patches(kube) == 1
    assert slack.calls("usergroups.users.list")


async def ask_for_rollback(client: httpx.AsyncClient, slack: SlackEmulator) -> str:
    """U0ONCALL asks; the token on the buttons of the approval request."""
    await post(client, slash_command("rollback fraud-scorer", slack.response_url("ask")))
    await slack.await_for(lambda: len(slack.responses("ask")) == 1, timeout=10)
    actions = next(b for b in slack.responses("ask")[0]["blocks"] if b["type"] == "actions")
    return str(actions["elements"][1]["value"])  # the Reject button's


async def test_reject_is_for_approvers_and_a_strangers_click_changes_nothing(
    client: httpx.AsyncClient, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    token = await ask_for_rollback(client, slack)

    await post(client, click("opsbot_reject", token, "U0MALLORY", slack.response_url("m")))
    await slack.await_for(lambda: len(slack.responses("m")) == 1, timeout=10)
    [refusal] = slack.responses("m")
    assert refusal["response_type"] == "ephemeral"
    assert refusal.get("replace_original") is False  # the buttons stay for the others
    assert "U0MALLORY may not approve" in refusal["text"]
    assert "Only an approver may reject it" in refusal["text"]

    await post(client, click("opsbot_reject", token, "U0ALICE", slack.response_url("a")))
    await slack.await_for(lambda: len(slack.responses("a")) == 1, timeout=10)
    [rejected] = slack.responses("a")
    assert rejected.get("replace_original") is True
    assert rejected["text"].startswith("Rejected by <@U0ALICE>; nothing was changed.")

    await post(client, click("opsbot_approve", token, "U0BOB", slack.response_url("b")))
    await slack.await_for(lambda: len(slack.responses("b")) == 1, timeout=10)
    [late] = slack.responses("b")
    assert late["response_type"] == "ephemeral"
    assert "This approval is rejected" in late["text"]
    assert patches(kube) == 0


async def test_the_requester_withdraws_with_the_reject_button(
    client: httpx.AsyncClient, slack: SlackEmulator, kube: KubeApiFake
) -> None:
    token = await ask_for_rollback(client, slack)
    await post(client, click("opsbot_reject", token, "U0ONCALL", slack.response_url("o")))
    await slack.await_for(lambda: len(slack.responses("o")) == 1, timeout=10)
    [withdrawn] = slack.responses("o")
    assert withdrawn.get("replace_original") is True
    assert withdrawn["text"].startswith("Withdrawn by <@U0ONCALL>; nothing was changed.")
    assert patches(kube) == 0
