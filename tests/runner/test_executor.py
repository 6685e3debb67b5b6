"""The one execution path, against the Kubernetes API fake: policy, approval, exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from bot.audit.log import read as read_audit
from bot.audit.verify import verify
from bot.catalog.load import parse_catalog
from bot.clients.kubernetes import KubeClient
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.store.engine import session_scope
from bot.store.models import table
from bot.store.run_models import ActionRun, RunStatus
from tests.fakes.kubernetes.api import KubeApiFake

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = f"""
services:
  fraud-scorer: {{namespace: {NS}, deployments: [{DEPLOY}]}}
policy:
  namespaces: [{NS}]
  approval_expiry_min: 15
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment, scale_deployment, restart_deployment]
      run: ["@sre", U0CAROL]
      approve: ["@sre"]
      approval: required
"""
PARAMS = {"namespace": NS, "deployment": DEPLOY}


@pytest.fixture
def executor(engine: Engine, kc: KubeClient) -> Executor:
    return Executor(engine, parse_catalog(CATALOG), Clients(kube=kc))


def template_patches(kube: KubeApiFake) -> int:
    return sum(
        1
        for method, path, _ in kube.requests
        if method == "PATCH" and path.endswith(f"/deployments/{DEPLOY}")
    )


def image(kube: KubeApiFake) -> str:
    return str(kube.deployment(NS, DEPLOY)["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_rollback_waits_for_approval_and_runs_once(
    executor: Executor, kube: KubeApiFake, engine: Engine
) -> None:
    asked = executor.request("rollback_deployment", PARAMS, actor="U0CAROL")
    assert asked.status == RunStatus.AWAITING_APPROVAL
    assert asked.approval_token
    assert asked.plan["pinned"]["to_revision"] == 1
    assert template_patches(kube) == 0  # planning reads only

    done = executor.approve(asked.approval_token, "U0ALICE")
    assert done.status == RunStatus.SUCCEEDED, done.message
    assert image(kube) == "registry/fraud-scorer:2.3.0"
    assert template_patches(kube) == 1

    again = executor.approve(asked.approval_token, "U0BOB")  # a second click
    assert "Already approved by <@U0ALICE>" in again.message
    assert template_patches(kube) == 1

    with Session(engine) as session:
        report = verify(session)
    assert report.ok, report.problems
    assert report.rows >= 5  # requested, approval_requested, approved, started, succeeded


def test_concurrent_clicks_execute_once(executor: Executor, kube: KubeApiFake) -> None:
    asked = executor.request("rollback_deployment", PARAMS, actor="U0CAROL")
    assert asked.approval_token
    results = []
    barrier = threading.Barrier(4)

    def click(user: str) -> None:
        barrier.wait()
        results.append(executor.approve(asked.approval_token or "", user))

    threads = [threading.Thread(target=click, args=(u,)) for u in ("U0ALICE", "U0BOB") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r.status == RunStatus.SUCCEEDED for r in results) == 1
    assert template_patches(kube) == 1


def test_the_same_key_is_one_run(executor: Executor) -> None:
    first = executor.request("rollback_deployment", PARAMS, actor="U0CAROL", key="button:42")
    second = executor.request("rollback_deployment", PARAMS, actor="U0CAROL", key="button:42")
    assert second.id == first.id
    assert second.message == "already requested"


def test_policy_refuses_strangers_and_self_approval(executor: Executor, kube: KubeApiFake) -> None:
    stranger = executor.request("rollback_deployment", PARAMS, actor="U0MALLORY")
    assert stranger.status == RunStatus.REFUSED
    assert "U0MALLORY may not run rollback_deployment" in stranger.message

    own = executor.request("rollback_deployment", PARAMS, actor="U0ALICE")
    assert own.approval_token
    refused = executor.approve(own.approval_token, "U0ALICE")
    assert refused.status == RunStatus.REFUSED
    assert template_patches(kube) == 0
    outsider = executor.approve(own.approval_token, "U0CAROL")  # may run, may not approve
    assert outsider.status == RunStatus.REFUSED
    assert executor.approve(own.approval_token, "U0BOB").status == RunStatus.SUCCEEDED
    assert template_patches(kube) == 1


def test_expired_and_tampered_approvals_run_nothing(executor: Executor, kube: KubeApiFake) -> None:
    asked = executor.request("rollback_deployment", PARAMS, actor="U0CAROL")
    assert asked.approval_token
    tampered = executor.approve(asked.approval_token[:-2] + "xx", "U0ALICE")
    assert "unknown" in tampered.message
    executor.clock = lambda: datetime.now(UTC) + timedelta(minutes=16)
    expired = executor.approve(asked.approval_token, "U0ALICE")
    assert "expired" in expired.message
    assert template_patches(kube) == 0


def test_a_deployment_changed_after_the_plan_is_refused(
    executor: Executor, kube: KubeApiFake
) -> None:
    asked = executor.request("rollback_deployment", PARAMS, actor="U0CAROL")
    assert asked.approval_token
    kube.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.2")  # someone shipped a fix meanwhile
    patches = template_patches(kube)
    result = executor.approve(asked.approval_token, "U0ALICE")
    assert result.status == RunStatus.REFUSED
    assert "new approval" in result.message
    assert image(kube) == "registry/fraud-scorer:2.3.2"
    assert template_patches(kube) == patches


def test_dry_run_shows_the_plan_and_changes_nothing(executor: Executor, kube: KubeApiFake) -> None:
    view = executor.request("rollback_deployment", PARAMS, actor="U0CAROL", dry_run=True)
    assert view.status == RunStatus.DRY_RUN
    assert "revision 1" in view.plan["summary"]
    assert view.message.startswith("Dry run, nothing changed.")
    assert template_patches(kube) == 0


def _left_running(engine: Engine, run_id: int, owner: str) -> None:
    """What a replica leaves behind when it dies while applying a run."""
    with session_scope(engine) as session:
        session.execute(
            update(table(ActionRun))
            .where(ActionRun.id == run_id)  # type: ignore[arg-type]
            .values(status=RunStatus.RUNNING, approver="U0ALICE", owner=owner)
        )


def test_a_crash_before_or_after_the_patch_never_patches_twice(
    executor: Executor, kube: KubeApiFake, engine: Engine
) -> None:
    asked = executor.request("rollback_deployment", PARAMS, actor="U0CAROL")
    assert asked.approval_token
    assert asked.id is not None
    # Approved and claimed, then its replica died before apply(): the run is left ``running``.
    _left_running(engine, asked.id, "replica-a")
    [adopted] = executor.adopt_orphans(alive=lambda replica: False)
    assert adopted.status == RunStatus.SUCCEEDED
    assert template_patches(kube) == 1

    # The patch landed but the adopter died before recording it: ``running`` again.
    _left_running(engine, asked.id, executor.replica + "-before-restart")
    [again] = executor.adopt_orphans(alive=lambda replica: False)
    assert again.status == RunStatus.SUCCEEDED
    assert "already" in again.message.lower()
    assert template_patches(kube) == 1
    with Session(engine) as session:
        run = session.exec(select(ActionRun).where(ActionRun.id == asked.id)).one()
        events = [e.event for e in read_audit(session, subject=f"action_run:{asked.id}")]
    assert run.status == RunStatus.SUCCEEDED
    assert run.owner == executor.replica
    assert events.count("adopted") == 2


def test_a_live_replicas_run_is_never_adopted(
    executor: Executor, kube: KubeApiFake, engine: Engine
) -> None:
    asked = executor.request("rollback_deployment", PARAMS, actor="U0CAROL")
    assert asked.id is not None
    _left_running(engine, asked.id, "replica-b")
    asked_about: list[str] = []

    def alive(replica: str) -> bool:
        asked_about.append(replica)
        return replica == "replica-b"

    assert executor.adopt_orphans(alive) == []
    assert asked_about == ["replica-b"]
    assert template_patches(kube) == 0
    with Session(engine) as session:
        run = session.exec(select(ActionRun).where(ActionRun.id == asked.id)).one()
    assert (run.status, run.owner) == (RunStatus.RUNNING, "replica-b")


def test_a_step_cannot_waive_an_approval_the_policy_requires(executor: Executor) -> None:
    waived = executor.request("rollback_deployment", PARAMS, actor="U0CAROL", approval=False)
    assert waived.status == RunStatus.AWAITING_APPROVAL
