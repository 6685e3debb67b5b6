"""A rollback to approve in Slack, for tests that run real ``opsbot serve`` processes and kill
them (tests/runner/test_kill_restart.py, tests/fleet/test_rollback_failover.py) or scrape them
(tests/integration/test_grafana_dashboard.py).

The world: the Kubernetes API fake under the chart's Role with ml-serving/fraud-scorer rolled
from 2.3.0 to 2.3.1 an hour ago, the Slack emulator, and the environment of an opsbot whose
policy lets the on-call ask for the rollback and the SREs approve it. ``ask`` types
``/ops rollback fraud-scorer``, ``approve`` clicks the approval button, ``outcome`` reads the run
and its audit trail back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from bot.audit.log import read
from bot.store.engine import make_engine
from bot.store.run_models import ActionRun
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.slack.api import SlackEmulator
from tests.support.chart_role import chart_kube_fake
from tests.support.fleet import wait_for
from tests.support.kube import DEPLOY, NS, roll_fraud_scorer
from tests.support.server import BotProcess
from tests.support.slack_requests import SIGNING_SECRET, click, post_to_bot, slash_command

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
        roll_fraud_scorer(kube)
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
