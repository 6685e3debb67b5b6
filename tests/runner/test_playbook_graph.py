"""Playbook runs as LangGraph graphs checkpointed in the database: steps in order, approval as
an interrupt resumed by a click (also from a new process), failure routing, templating."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from sqlalchemy import Engine

from bot.catalog.load import parse_catalog
from bot.clients.kubernetes import KubeClient
from bot.clients.set import Clients
from bot.runner.context import service_context
from bot.runner.execute import Executor
from bot.runner.graph import PlaybookRunner, checkpointer_for
from bot.runner.playbook import PlaybookError, load_dir, load_file, matches, render
from bot.store.engine import session_scope
from bot.store.run_models import PlaybookRun
from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest, timeline_kinds

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [{DEPLOY}]
    signals: [{{name: error_rate, query: 'sum(errors)'}}]
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      playbooks: [roll-and-tell]
      run: ["@sre"]
      approve: ["@sre"]
    - actions: [post_message]
      run: ["*"]
      approval: none
"""
PLAYBOOK = """\
apiVersion: opsbot/v1
name: roll-and-tell
description: Roll back, then say so.
owner: sre
params: {note: "all good"}
steps:
  - name: rollback
    action: rollback_deployment
    approval: required
    on_failure: tell-failure
    params: {namespace: "{{ service.namespace }}", deployment: "{{ service.deployment }}"}
  - name: tell
    action: post_message
    params:
      text: "Rolled back {{ service.name }}: {{ steps.rollback.summary }} ({{ params.note }})"
  - name: tell-failure
    action: post_message
    when: "not steps.rollback.ok"
    params: {text: "Rollback of {{ service.name }} did not happen: {{ steps.rollback.summary }}"}
"""


class Harness:
    def __init__(self, db_url: str, engine: Engine, kc: KubeClient, tmp: Path) -> None:
        (tmp / "playbooks").mkdir(exist_ok=True)
        (tmp / "playbooks" / "roll-and-tell.yaml").write_text(PLAYBOOK)
        self.db_url = db_url
        self.engine = engine
        self.catalog = parse_catalog(CATALOG)
        self.kube = kc
        self.said: list[str] = []
        self.playbooks, problems = load_dir(tmp / "playbooks")
        assert problems == []
        self.closers: list[Any] = []

    def runner(self, replica: str = "local") -> PlaybookRunner:
        """A fresh executor and runner: what a restarted process (or a replica) builds."""
        executor = Executor(
            self.engine,
            self.catalog,
            Clients(kube=self.kube),
            say=lambda _incident, text: self.said.append(text),
            replica=replica,
        )
        saver, close = checkpointer_for(self.db_url)
        self.closers.append(close)
        return PlaybookRunner(self.engine, executor, self.playbooks, saver)

    def close(self) -> None:
        for close in self.closers:
            close()


@pytest.fixture
def harness(db_url: str, engine: Engine, kc: KubeClient, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(db_url, engine, kc, tmp_path)
    yield h
    h.close()


def test_a_run_waits_for_approval_and_a_new_process_finishes_it(
    harness: Harness, kube: KubeApiFake
) -> None:
    runner = harness.runner()
    started = runner.start(
        "roll-and-tell", actor="U0ALICE", context=service_context(harness.catalog, "fraud-scorer")
    )
    assert started.status == "waiting"
    assert started.waiting_for
    assert harness.said == []

    # The bot restarts; the approval click reaches the new process.
    restarted = harness.runner()
    decided = restarted.executor.approve(started.waiting_for, "U0BOB")
    assert decided.status == "succeeded", decided.message
    finished = restarted.resume(started.id)
    assert finished.status == "succeeded"
    assert finished.steps["rollback"]["ok"] is True
    assert finished.steps["tell-failure"]["status"] == "skipped"
    assert harness.said == [
        f"Rolled back fraud-scorer: {decided.message} (all good)",
    ]
    patches = [r for r in kube.requests if r[0] == "PATCH"]
    assert len(patches) == 1


def test_a_decided_run_nobody_drives_is_adopted_once(harness: Harness, kube: KubeApiFake) -> None:
    first = harness.runner(replica="replica-a")
    started = first.start(
        "roll-and-tell", actor="U0ALICE", context=service_context(harness.catalog, "fraud-scorer")
    )
    assert started.waiting_for
    first.executor.approve(started.waiting_for, "U0BOB")  # the click; its resume never came

    leader = harness.runner(replica="replica-b")
    [adopted] = leader.adopt_orphans(alive=lambda replica: True)
    assert adopted.status == "succeeded"
    assert leader.adopt_orphans(alive=lambda replica: True) == []
    assert first.resume(started.id).status == "succeeded"  # late: finds it finished
    assert len([r for r in kube.requests if r[0] == "PATCH"]) == 1
    assert len([s for s in harness.said if s.startswith("Rolled back")]) == 1


def test_a_run_whose_driver_died_mid_step_is_adopted_and_a_live_ones_is_not(
    harness: Harness, kube: KubeApiFake
) -> None:
    first = harness.runner(replica="replica-a")
    started = first.start(
        "roll-and-tell", actor="U0ALICE", context=service_context(harness.catalog, "fraud-scorer")
    )
    assert started.waiting_for
    first.executor.approve(started.waiting_for, "U0BOB")
    with session_scope(harness.engine) as session:  # replica-a died while resuming it
        run = session.get(PlaybookRun, started.id)
        assert run is not None
        run.status, run.owner = "running", "replica-a"
        session.add(run)

    leader = harness.runner(replica="replica-b")
    assert leader.adopt_orphans(alive=lambda replica: replica == "replica-a") == []
    assert harness.said == []
    [adopted] = leader.adopt_orphans(alive=lambda replica: replica == "replica-b")
    assert adopted.status == "succeeded"
    assert adopted.steps["tell"]["ok"] is True
    assert len([r for r in kube.requests if r[0] == "PATCH"]) == 1


def test_a_run_for_an_incident_is_on_its_timeline(harness: Harness) -> None:
    ingest(harness.engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    runner = harness.runner()
    started = runner.start(
        "roll-and-tell",
        actor="U0ALICE",
        context=service_context(harness.catalog, "fraud-scorer"),
        incident_id=1,
    )
    assert started.waiting_for
    runner.executor.approve(started.waiting_for, "U0BOB")
    assert runner.resume(started.id).status == "succeeded"
    kinds = timeline_kinds(harness.engine, 1)
    assert kinds[-1] == "playbook_finished"
    assert kinds[kinds.index("playbook_started") :] == [
        "playbook_started",
        "action_requested",  # the rollback step, by U0ALICE
        "approval_requested",
        "action_approved",  # by U0BOB
        "action_succeeded",
        "action_requested",  # the tell step
        "action_succeeded",
        "playbook_finished",
    ]


def test_a_failed_step_routes_to_its_on_failure_step(harness: Harness, kube: KubeApiFake) -> None:
    kube.fail_next(10, status=500)  # the API server is down: the rollback cannot even plan
    runner = harness.runner()
    view = runner.start(
        "roll-and-tell", actor="U0ALICE", context=service_context(harness.catalog, "fraud-scorer")
    )
    assert view.status == "failed"  # its failure path ran to the end, but it failed
    assert view.steps["rollback"]["ok"] is False
    assert "tell" not in view.steps
    assert harness.said[0].startswith("Rollback of fraud-scorer did not happen: Failed: could not")


def test_someone_the_policy_does_not_allow_cannot_start_it(harness: Harness) -> None:
    with pytest.raises(
        PermissionError, match="U0MALLORY may not run playbook roll-and-tell in ml-serving"
    ):
        harness.runner().start(
            "roll-and-tell",
            actor="U0MALLORY",
            context=service_context(harness.catalog, "fraud-scorer"),
        )


def test_dry_run_plans_every_step_and_changes_nothing(harness: Harness, kube: KubeApiFake) -> None:
    runner = harness.runner()
    view = runner.start(
        "roll-and-tell",
        actor="U0ALICE",
        context=service_context(harness.catalog, "fraud-scorer"),
        dry_run=True,
    )
    assert view.status == "succeeded"
    assert view.steps["rollback"]["status"] == "dry_run"
    assert view.steps["tell"]["status"] == "dry_run"
    assert harness.said == []
    assert [r for r in kube.requests if r[0] == "PATCH"] == []


def test_run_params_are_checked(harness: Harness) -> None:
    with pytest.raises(ValueError, match="takes no param colour"):
        harness.runner().start(
            "roll-and-tell",
            actor="U0ALICE",
            context=service_context(harness.catalog, "fraud-scorer"),
            params={"colour": "red"},
        )


def test_templates_are_strict_and_matching_reads_labels_and_suspects(tmp_path: Path) -> None:
    ctx = {"service": {"name": "x"}, "steps": {}}
    assert render({"a": ["{{ service.name }}!"]}, ctx) == {"a": ["x!"]}
    with pytest.raises(UndefinedError):
        render("{{ service.namespace }}", ctx)
    path = tmp_path / "pb.yaml"
    path.write_text(
        PLAYBOOK.replace(
            "owner: sre\n",
            "owner: sre\nmatch: {labels: {severity: critical}, suspect_kinds: [model]}\n",
        )
    )
    pb = load_file(path)
    assert matches(pb, {"severity": "critical"}, "model", "fraud-scorer")
    assert not matches(pb, {"severity": "warning"}, "model", "fraud-scorer")
    assert not matches(pb, {"severity": "critical"}, "data", "fraud-scorer")


def test_a_playbook_with_a_bad_step_reference_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pb.yaml"
    path.write_text(PLAYBOOK.replace("on_failure: tell-failure", "on_failure: nowhere"))
    with pytest.raises(PlaybookError, match="on_failure must be stop, continue or a step name"):
        load_file(path)


def test_params_the_action_refuses_fail_the_step_not_the_runner(
    harness: Harness, kube: KubeApiFake, tmp_path: Path
) -> None:
    bad = PLAYBOOK.replace(
        'deployment: "{{ service.deployment }}"}',
        'deployment: "{{ service.deployment }}", to_revision: "latest"}',
    )
    (tmp_path / "playbooks" / "roll-and-tell.yaml").write_text(bad)
    harness.playbooks, problems = load_dir(tmp_path / "playbooks")
    assert problems == []
    view = harness.runner().start(
        "roll-and-tell", actor="U0ALICE", context=service_context(harness.catalog, "fraud-scorer")
    )
    assert view.status == "failed"
    assert view.steps["rollback"]["summary"].startswith("Invalid rollback_deployment: to_revision")
    assert harness.said[0].startswith("Rollback of fraud-scorer did not happen: Invalid")
    assert [r for r in kube.requests if r[0] == "PATCH"] == []
