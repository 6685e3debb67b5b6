"""`kill -9` of a real `opsbot serve` in the middle of an approved rollback, then a restart:

- killed after the approval, before the patch → on restart exactly one patch, one result;
- killed after the patch landed, before it was recorded → on restart no second patch.

Slack is the emulator (the approval is a signed button click); Kubernetes is the API fake,
holding the bot on the request where it must die."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.audit.log import read
from bot.store.engine import make_engine
from bot.store.run_models import ActionRun
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator
from tests.support.chart_role import chart_kube_fake
from tests.support.server import BotProcess
from tests.support.slack_requests import SIGNING_SECRET, click, post_to_bot, slash_command

NS, DEPLOY = "ml-serving", "fraud-scorer"
DEPLOY_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/{DEPLOY}"
CATALOG = f"""
services:
  fraud-scorer: {{namespace: {NS}, deployments: [{DEPLOY}]}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      run: ["@sre", U0ONCALL]
      approve: ["@sre"]
"""


@dataclass
class World:
    kube: KubeApiFake
    slack: SlackEmulator
    env: dict[str, str]
    tmp: Path
    db_url: str

    def bot(self) -> BotProcess:
        return BotProcess(self.env, log_path=self.tmp / "bot.log").start()

    def count(self, method: str, path: str = DEPLOY_PATH) -> int:
        return sum(1 for m, p, _ in self.kube.requests if m == method and p == path)


@contextmanager
def make_world(tmp_path: Path, db_url: str) -> Iterator[World]:
    """A Deployment rolled from 2.3.0 to 2.3.1 an hour ago, the Slack emulator, and the
    environment of an opsbot that may roll it back (on ``db_url``)."""
    with chart_kube_fake() as kube, SlackEmulator(channels=("C0INCIDENT",)) as slack:
        start = datetime.now(UTC) - timedelta(hours=2)
        kube.add_deployment(NS, DEPLOY, "registry/fraud-scorer:2.3.0", at=start)
        kube.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.1", at=start + timedelta(hours=1))
        (tmp_path / "services.yaml").write_text(CATALOG)
        env = {
            "OPSBOT_DATABASE_URL": db_url,
            "OPSBOT_ALERTMANAGER_TOKEN": "am-token",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "OPSBOT_SLACK_API_URL": slack.api_url,
            "OPSBOT_INCIDENT_CHANNEL": "C0INCIDENT",
            "OPSBOT_SERVICES_FILE": str(tmp_path / "services.yaml"),
            "KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
        }
        yield World(kube, slack, env, tmp_path, db_url)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path, f"sqlite:///{tmp_path}/opsbot.db") as w:
        yield w


def wait_for(condition: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ask(world: World, bot: BotProcess) -> str:
    """``/ops rollback fraud-scorer``; the approval token its buttons carry."""
    post_to_bot(bot, slash_command("rollback fraud-scorer", world.slack.response_url("ask")))
    wait_for(lambda: len(world.slack.responses("ask")) == 1, 20, "the approval request")
    [answer] = world.slack.responses("ask")
    actions = next(b for b in answer["blocks"] if b["type"] == "actions")
    return str(actions["elements"][0]["value"])


def approve(world: World, bot: BotProcess, token: str) -> None:
    post_to_bot(bot, click("opsbot_approve", token, "U0BOB", world.slack.response_url("ok")))


def outcome(world: World) -> tuple[ActionRun, list[str]]:
    engine = make_engine(world.db_url)
    try:
        with Session(engine) as session:
            [run] = session.exec(select(ActionRun)).all()
            events = [e.event for e in read(session, subject=f"action_run:{run.id}")]
        return run, events
    finally:
        engine.dispose()


def image(world: World) -> str:
    spec = world.kube.deployment(NS, DEPLOY)["spec"]["template"]["spec"]
    return str(spec["containers"][0]["image"])


def test_killed_after_approval_before_the_patch(world: World) -> None:
    bot = world.bot()
    token = ask(world, bot)
    gets = world.count("GET")
    world.kube.delay_next(30.0, method="GET", path=DEPLOY_PATH)  # hold its re-read before patching
    approve(world, bot, token)
    wait_for(lambda: world.count("GET") > gets, 20, "the bot re-reading the Deployment")
    bot.kill()  # SIGKILL: approved and claimed, nothing patched
    assert world.count("PATCH") == 0
    run, _ = outcome(world)
    assert run.status == "running"

    world.kube.clear_faults()
    restarted = world.bot()
    try:
        wait_for(lambda: outcome(world)[0].status == "succeeded", 30, "the resumed rollback")
    finally:
        restarted.stop()
    assert world.count("PATCH") == 1
    assert image(world) == "registry/fraud-scorer:2.3.0"
    _, events = outcome(world)
    assert events.count("succeeded") == 1
    assert "failed" not in events


def test_killed_after_the_patch_before_recording_it(world: World) -> None:
    bot = world.bot()
    token = ask(world, bot)
    world.kube.delay_next(30.0, method="PATCH", path=DEPLOY_PATH)  # lands, answered late
    approve(world, bot, token)
    wait_for(lambda: world.count("PATCH") == 1, 20, "the patch to land")
    bot.kill()  # the rollback happened; the bot never heard back
    assert image(world) == "registry/fraud-scorer:2.3.0"
    run, _ = outcome(world)
    assert run.status == "running"

    world.kube.clear_faults()
    restarted = world.bot()
    try:
        wait_for(lambda: outcome(world)[0].status == "succeeded", 30, "the resumed rollback")
    finally:
        restarted.stop()
    assert world.count("PATCH") == 1  # never rolled "back" to the bad version
    assert image(world) == "registry/fraud-scorer:2.3.0"
    run, events = outcome(world)
    assert "already" in json.dumps(run.result).lower()
    assert events.count("succeeded") == 1
