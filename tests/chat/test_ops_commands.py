"""The remediation commands at the console: dry runs, approval by token, playbooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.catalog.load import parse_catalog
from bot.chat.commands import CommandContext, Ops, run_command
from bot.clients.kubernetes import KubeClient
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.runner.graph import PlaybookRunner, checkpointer_for
from bot.runner.playbook import load_dir
from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.kube import roll_fraud_scorer
from tests.support.server import ROOT

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = parse_catalog(f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [{DEPLOY}]
    signals: [{{name: throughput, query: 'sum(rate(requests_total[5m]))'}}]
  search: {{}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment, scale_deployment, restart_deployment]
      playbooks: ["*"]
      run: ["@sre"]
      approve: ["@sre"]
""")


@pytest.fixture
def ops(
    sqlite_url: str, engine: Engine, kube: KubeApiFake, kc: KubeClient
) -> Iterator[tuple[Ops, KubeApiFake]]:
    roll_fraud_scorer(kube)
    executor = Executor(engine, CATALOG, Clients(kube=kc))
    playbooks, _ = load_dir(ROOT / "playbooks")
    saver, close = checkpointer_for(sqlite_url)
    yield Ops(executor, PlaybookRunner(engine, executor, playbooks, saver), playbooks), kube
    close()


def console(engine: Engine, ops: Ops, user: str) -> CommandContext:
    return CommandContext(engine=engine, user=user, catalog=CATALOG, ops=ops)


def patches(kube: KubeApiFake) -> int:
    return sum(1 for r in kube.requests if r[0] == "PATCH")


def test_rollback_asks_for_approval_and_another_person_approves(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    o, kube = ops
    asked = run_command(console(engine, o, "U0ALICE"), "rollback fraud-scorer to 1")
    assert asked.ok
    assert "Approval needed: Roll back ml-serving/fraud-scorer" in asked.text
    token = asked.text.rsplit("approve ", 1)[1].strip()
    own = run_command(console(engine, o, "U0ALICE"), f"approve {token}")
    assert not own.ok
    assert "someone else" in own.text
    done = run_command(console(engine, o, "U0BOB"), f"approve {token}")
    assert done.ok, done.text
    assert done.text.startswith("Done:")
    assert patches(kube) == 1


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("rollback fraud-scorer --dry-run", "Dry run, nothing changed. Would: Roll back"),
        ("scale fraud-scorer 4 --dry-run", "Dry run, nothing changed. Would:"),
        ("restart fraud-scorer --dry-run", "Dry run, nothing changed. Would:"),
    ],
)
def test_dry_runs_change_nothing(
    engine: Engine, ops: tuple[Ops, KubeApiFake], command: str, expected: str
) -> None:
    o, kube = ops
    reply = run_command(console(engine, o, "U0ALICE"), command)
    assert reply.ok, reply.text
    assert reply.text.startswith(expected)
    assert patches(kube) == 0


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("rollback search", "search has no Kubernetes namespace and Deployment"),
        ("rollback fraud-scorer to latest", "Usage: /ops rollback"),
        ("scale fraud-scorer many", "Usage: /ops scale"),
        ("rerun", "Usage: /ops rerun <pipeline>"),
        ("run rollback-model-deploy", "Usage: /ops run"),
        ("run nope fraud-scorer", "No playbook `nope`"),
        ("run rollback-model-deploy fraud-scorer colour=red", "takes no param colour"),
    ],
)
def test_bad_commands_are_refused_with_the_reason(
    engine: Engine, ops: tuple[Ops, KubeApiFake], command: str, expected: str
) -> None:
    o, _ = ops
    reply = run_command(console(engine, o, "U0ALICE"), command)
    assert not reply.ok
    assert expected in reply.text


def test_strangers_are_refused(engine: Engine, ops: tuple[Ops, KubeApiFake]) -> None:
    o, kube = ops
    reply = run_command(console(engine, o, "U0MALLORY"), "restart fraud-scorer")
    assert not reply.ok
    assert "U0MALLORY may not run restart_deployment" in reply.text
    assert patches(kube) == 0


def test_playbooks_are_listed_and_run_in_dry_run(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    o, kube = ops
    listing = run_command(console(engine, o, "U0ALICE"), "playbooks")
    for name in (
        "rollback-model-deploy",
        "scale-up-serving",
        "rerun-feature-pipeline",
        "restart-stuck-workers",
    ):
        assert name in listing.text
    run = run_command(
        console(engine, o, "U0ALICE"), "run restart-stuck-workers fraud-scorer --dry-run"
    )
    assert run.ok, run.text
    assert "restart: Dry run, nothing changed." in run.text
    # Without Prometheus the check cannot even be planned: the run says so rather than pass.
    assert "verify: Refused: Prometheus is not configured" in run.text
    assert run.text.startswith("Playbook restart-stuck-workers run #1: failed")
    assert patches(kube) == 0
    # A param the catalog cannot fill fails that step, with the reason, instead of crashing.
    scaled = run_command(
        console(engine, o, "U0ALICE"), "run scale-up-serving fraud-scorer --dry-run"
    )
    assert "verify: could not fill params: 'dict object' has no attribute 'p95_latency'" in (
        scaled.text
    )
