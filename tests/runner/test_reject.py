"""Turning a request down goes through the policy like approving it: an approver rejects, the
requester withdraws their own request, anyone else is refused (audited, nothing changes). Each
decision is audited, on the incident's timeline, and ends a playbook run waiting on it; on SQLite
and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.audit.log import read as read_audit
from bot.audit.verify import verify
from bot.catalog.load import parse_catalog
from bot.chat.commands import Ops
from bot.chat.commands.actions import resume_playbook
from bot.clients.kubernetes import KubeClient
from bot.clients.set import Clients
from bot.runner.context import service_context
from bot.runner.execute import Executor
from bot.runner.graph import PlaybookRunner, checkpointer_for
from bot.runner.playbook import load_dir
from bot.store.run_models import RunStatus, RunView
from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest, timeline_kinds

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = f"""
services:
  fraud-scorer: {{namespace: {NS}, deployments: [{DEPLOY}]}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      playbooks: [roll-then-wait]
      run: ["@sre", U0CAROL]
      approve: ["@sre"]
    - actions: [post_message]
      run: ["*"]
      approval: none
"""
PARAMS = {"namespace": NS, "deployment": DEPLOY}
# The approval step stops the run when it does not succeed (the default, as in the shipped
# rollback-model-deploy playbook).
PLAYBOOK = """\
apiVersion: opsbot/v1
name: roll-then-wait
description: Roll back, then say so.
owner: sre
steps:
  - name: rollback
    action: rollback_deployment
    approval: required
    params: {namespace: "{{ service.namespace }}", deployment: "{{ service.deployment }}"}
  - name: tell
    action: post_message
    params: {text: "Rolled back {{ service.name }}"}
"""


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def executor(engine: Engine, kc: KubeClient, said: list[str]) -> Executor:
    return Executor(
        engine,
        parse_catalog(CATALOG),
        Clients(kube=kc),
        say=lambda _incident, text: said.append(text),
    )


@pytest.fixture
def incident(engine: Engine) -> int:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    return 1


def ask(executor: Executor, incident: int | None = None, actor: str = "U0CAROL") -> RunView:
    asked = executor.request("rollback_deployment", PARAMS, actor=actor, incident_id=incident)
    assert asked.status == RunStatus.AWAITING_APPROVAL
    assert asked.approval_token
    return asked


def events(engine: Engine, run_id: int | None) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return [(e.event, e.actor) for e in read_audit(s, subject=f"action_run:{run_id}")]


def chain_ok(engine: Engine) -> bool:
    with Session(engine) as s:
        return verify(s).ok


def patches(kube: KubeApiFake) -> int:
    return sum(1 for r in kube.requests if r[0] == "PATCH")


def test_an_approver_rejects_and_nothing_runs(
    executor: Executor, engine: Engine, kube: KubeApiFake, incident: int
) -> None:
    asked = ask(executor, incident)
    assert asked.approval_token
    rejected = executor.reject(asked.approval_token, "U0ALICE")
    assert rejected.decided
    assert rejected.status == RunStatus.REJECTED
    assert rejected.message.startswith("Rejected by <@U0ALICE>; nothing was changed.")
    late = executor.approve(asked.approval_token, "U0BOB")
    assert not late.decided
    assert "rejected" in late.message
    assert patches(kube) == 0
    assert events(engine, asked.id)[-1] == ("rejected", "U0ALICE")
    assert timeline_kinds(engine, incident)[-1] == "action_rejected"
    assert chain_ok(engine)


def test_the_requester_withdraws_their_own_request(
    executor: Executor, engine: Engine, kube: KubeApiFake, incident: int
) -> None:
    by_button = ask(executor, incident)  # the Reject button, clicked by who asked
    assert by_button.approval_token
    withdrawn = executor.reject(by_button.approval_token, "U0CAROL")
    assert withdrawn.decided
    assert withdrawn.message.startswith("Withdrawn by <@U0CAROL>")
    assert events(engine, by_button.id)[-1] == ("withdrawn", "U0CAROL")

    by_command = ask(executor, incident)  # `withdraw <token>`: only who asked may
    assert by_command.approval_token
    not_theirs = executor.cancel(by_command.approval_token, "U0ALICE")
    assert not not_theirs.decided
    assert not_theirs.status == RunStatus.REFUSED
    assert "Only <@U0CAROL>" in not_theirs.message
    assert events(engine, by_command.id)[-1] == ("withdrawal_refused", "U0ALICE")
    assert executor.cancel(by_command.approval_token, "U0CAROL").decided
    assert events(engine, by_command.id)[-1] == ("withdrawn", "U0CAROL")

    assert timeline_kinds(engine, incident).count("action_withdrawn") == 2
    assert patches(kube) == 0
    assert chain_ok(engine)


def test_a_member_who_is_neither_is_refused_and_nothing_changes(
    executor: Executor, engine: Engine, kube: KubeApiFake, incident: int
) -> None:
    asked = ask(executor, incident)
    assert asked.approval_token
    assert asked.id is not None
    timeline_before = timeline_kinds(engine, incident)
    refused = executor.reject(asked.approval_token, "U0MALLORY")
    assert not refused.decided
    assert refused.status == RunStatus.REFUSED
    assert "U0MALLORY may not approve rollback_deployment" in refused.message
    assert "Only an approver may reject it" in refused.message
    assert events(engine, asked.id)[-1] == ("rejection_refused", "U0MALLORY")
    assert timeline_kinds(engine, incident) == timeline_before
    still = executor.lookup(asked.key)
    assert still is not None
    assert still.status == RunStatus.AWAITING_APPROVAL
    assert still.approval_token == asked.approval_token
    # The request is as it was: an approver can still approve it.
    assert executor.approve(asked.approval_token, "U0BOB").status == RunStatus.SUCCEEDED
    assert patches(kube) == 1
    assert chain_ok(engine)


def test_a_reject_and_an_approve_at_once_decide_once(
    executor: Executor, engine: Engine, kube: KubeApiFake
) -> None:
    asked = ask(executor)
    token = asked.approval_token or ""
    barrier = threading.Barrier(2)
    views: list[RunView] = []

    def decide(verb: str, who: str) -> None:
        barrier.wait()
        views.append(getattr(executor, verb)(token, who))

    threads = [
        threading.Thread(target=decide, args=("approve", "U0ALICE")),
        threading.Thread(target=decide, args=("reject", "U0BOB")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    [winner] = [v for v in views if v.decided]
    assert patches(kube) == (1 if winner.status == RunStatus.SUCCEEDED else 0)
    assert chain_ok(engine)


@pytest.mark.parametrize(("who", "event"), [("U0BOB", "rejected"), ("U0ALICE", "withdrawn")])
def test_a_turned_down_step_ends_its_playbook_run(
    executor: Executor,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    kube: KubeApiFake,
    said: list[str],
    incident: int,
    who: str,
    event: str,
) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "roll-then-wait.yaml").write_text(PLAYBOOK)
    playbooks, problems = load_dir(tmp_path / "playbooks")
    assert problems == []
    saver, close = checkpointer_for(db_url)
    try:
        runner = PlaybookRunner(engine, executor, playbooks, saver)
        started = runner.start(
            "roll-then-wait",
            actor="U0ALICE",
            context=service_context(executor.catalog, "fraud-scorer"),
            incident_id=incident,
        )
        assert started.waiting_for
        decided = executor.reject(started.waiting_for, who)
        assert decided.decided
        assert decided.id is not None
        resume_playbook(Ops(executor=executor, runner=runner), decided.id)
        ended = runner.view(started.id)
    finally:
        close()
    assert ended.status == "failed"
    assert ended.steps["rollback"]["status"] == RunStatus.REJECTED
    assert "tell" not in ended.steps
    assert said == []  # the next step never ran
    assert patches(kube) == 0
    assert events(engine, decided.id)[-1] == (event, who)
    kinds = timeline_kinds(engine, incident)
    assert kinds[-2:] == [f"action_{event}", "playbook_finished"]
