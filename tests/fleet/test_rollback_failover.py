"""An approved rollback on a fleet of two real replicas on PostgreSQL, whose applying replica is
killed with ``kill -9``:

- between the approval and the patch → the other replica adopts it: one patch, one result;
- after the patch landed, before it was recorded → adopted and reconciled: no second patch;
- and a slow replica that is still alive keeps its run: nobody adopts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.fleet import Replicas, wait_for
from tests.support.rollback_world import (
    DEPLOY_PATH,
    World,
    approve,
    ask,
    image,
    make_world,
    outcome,
)
from tests.support.server import BotProcess

TAKEOVER_LIMIT_S = 10.0


@dataclass
class Fleet:
    world: World
    replicas: Replicas

    def replica_id(self, bot: BotProcess) -> str:
        return str(httpx.get(f"{bot.url}/readyz", timeout=5).json()["replica"])


@pytest.fixture
def fleet(postgres_url: str, tmp_path: Path) -> Iterator[Fleet]:
    with make_world(tmp_path, postgres_url) as world:
        replicas = Replicas({**world.env, "OPSBOT_DRAIN_DELAY_S": "0.5"}, tmp_path)
        try:
            yield Fleet(world, replicas)
        finally:
            replicas.stop_all()


def killed_mid_apply(fleet: Fleet, hold: str) -> tuple[BotProcess, BotProcess]:
    """Two replicas; a rollback asked and approved on the first, which is killed while the
    Kubernetes fake holds its ``hold`` request; the survivor comes back."""
    world = fleet.world
    first, survivor = fleet.replicas.start(), fleet.replicas.start()
    first_id = fleet.replica_id(first)
    token = ask(world, first)
    before = world.count(hold)
    world.kube.delay_next(30.0, method=hold, path=DEPLOY_PATH)
    approve(world, first, token)
    wait_for(lambda: world.count(hold) > before, 20, f"the {hold} of the rollback")
    run, _ = outcome(world)
    assert (run.status, run.owner) == ("running", first_id), "being applied by the first"
    first.kill()
    world.kube.clear_faults()
    return first, survivor


def test_killed_after_approval_before_the_patch_is_adopted_and_patched_once(
    fleet: Fleet,
) -> None:
    world = fleet.world
    _, survivor = killed_mid_apply(fleet, "GET")
    assert world.count("PATCH") == 0
    wait_for(lambda: outcome(world)[0].status == "succeeded", TAKEOVER_LIMIT_S, "the adoption")
    assert world.count("PATCH") == 1
    assert image(world) == "registry/fraud-scorer:2.3.0"
    run, events = outcome(world)
    assert run.owner == fleet.replica_id(survivor)
    assert events.count("adopted") == 1
    assert events.count("succeeded") == 1
    assert "failed" not in events


def test_killed_after_the_patch_is_reconciled_not_patched_again(fleet: Fleet) -> None:
    world = fleet.world
    _, survivor = killed_mid_apply(fleet, "PATCH")
    assert image(world) == "registry/fraud-scorer:2.3.0"  # the patch landed
    wait_for(lambda: outcome(world)[0].status == "succeeded", TAKEOVER_LIMIT_S, "the adoption")
    assert world.count("PATCH") == 1, "never rolled 'back' to the bad version"
    run, events = outcome(world)
    assert "already" in json.dumps(run.result).lower()
    assert run.owner == fleet.replica_id(survivor)
    assert events.count("adopted") == 1
    assert events.count("succeeded") == 1


def test_a_slow_replica_that_is_alive_keeps_its_run(fleet: Fleet) -> None:
    world = fleet.world
    leader = fleet.replicas.start()
    fleet.replicas.wait_leader("runs")
    applier = fleet.replicas.start()
    assert "runs" not in fleet.replicas.leads(applier)
    token = ask(world, applier)
    world.kube.delay_next(4.0, method="GET", path=DEPLOY_PATH)  # several adoption passes long
    approve(world, applier, token)
    wait_for(lambda: outcome(world)[0].status == "succeeded", 30, "the slow rollback")
    assert world.count("PATCH") == 1
    run, events = outcome(world)
    assert run.owner == fleet.replica_id(applier)
    assert "adopted" not in events
    assert "runs" in fleet.replicas.leads(leader), "the leader was there all along"
