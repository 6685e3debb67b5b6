"""`kill -9` of a real `opsbot serve` in the middle of an approved rollback, then a restart:

- killed after the approval, before the patch → on restart exactly one patch, one result;
- killed after the patch landed, before it was recorded → on restart no second patch.

Slack is the emulator (the approval is a signed button click); Kubernetes is the API fake,
holding the bot on the request where it must die."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fleet import wait_for
from tests.support.rollback_world import (
    DEPLOY_PATH,
    World,
    approve,
    ask,
    image,
    make_world,
    outcome,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with make_world(tmp_path, f"sqlite:///{tmp_path}/opsbot.db") as w:
        yield w


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
