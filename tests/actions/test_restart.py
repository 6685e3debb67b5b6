"""``restart_deployment`` against the Kubernetes API fake: ``restartedAt`` set once per run, one
rollout however often the run is retried."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from actions.base import ActionContext, ActionRefused
from actions.k8s_restart import RESTART_KEY, RESTARTED_AT, RestartDeployment, restart_key
from actions.registry import REGISTRY
from bot.clients.kubernetes import KubeClient
from tests.actions.conftest import NS, FakeClock
from tests.fakes.kubernetes.api import KubeApiFake

NAME = "stream-scorer"
action = RestartDeployment()


def params() -> Any:
    return action.parse({"namespace": NS, "deployment": NAME})


def template_notes(kube: KubeApiFake) -> dict[str, str]:
    template = kube.deployment(NS, NAME)["spec"]["template"]
    return dict(template["metadata"].get("annotations") or {})


def patches(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] == "PATCH"]


@pytest.fixture(autouse=True)
def deployment(kube: KubeApiFake) -> None:
    kube.add_deployment(NS, NAME, "reg/stream-scorer:4.1", replicas=4)


def test_restart_sets_restarted_at_from_the_plan_and_rolls_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    assert isinstance(REGISTRY["restart_deployment"], RestartDeployment)
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    assert plan.summary == f"Restart {NS}/{NAME} (rolling restart of 4 pods)"
    assert plan.pinned["restarted_at"] == "2025-03-01T09:00:00Z"
    kube.clear_requests()

    result = action.apply(ctx, params(), plan)

    assert result.ok
    notes = template_notes(kube)
    assert notes[RESTARTED_AT] == "2025-03-01T09:00:00Z"
    assert notes[RESTART_KEY] == restart_key("run-1")
    assert len(kube.replicasets(NS, NAME)) == 2  # the restart is a new rollout
    assert [c for _, _, c in patches(kube)] == ["application/strategic-merge-patch+json"]


def test_the_same_key_twice_patches_once_with_the_same_plan_or_a_new_one(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    ctx = make_ctx(key="incident-7:restart")
    plan = action.plan(ctx, params())
    kube.clear_requests()

    action.apply(ctx, params(), plan)
    again = action.apply(ctx, params(), plan)
    clock.now += timedelta(minutes=5)  # the runner restarted and planned anew
    replanned = action.plan(ctx, params())

    assert again.ok
    assert again.data["already"] is True
    assert "already restarted" in again.summary
    assert replanned.noop
    assert "already restarted by this run" in replanned.summary
    assert len(patches(kube)) == 1
    assert len(kube.replicasets(NS, NAME)) == 2


def test_another_key_restarts_again(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    first = make_ctx(key="run-a")
    action.apply(first, params(), action.plan(first, params()))
    clock.now += timedelta(minutes=1)
    second = make_ctx(key="run-b")

    action.apply(second, params(), action.plan(second, params()))

    assert template_notes(kube)[RESTARTED_AT] == "2025-03-01T09:01:00Z"
    assert len(patches(kube)) == 2
    assert len(kube.replicasets(NS, NAME)) == 3


def test_a_deployment_changed_after_the_plan_is_refused(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kube.roll(NS, NAME, "reg/stream-scorer:4.2")
    kube.clear_requests()

    with pytest.raises(ActionRefused, match="changed since the restart was approved"):
        action.apply(ctx, params(), plan)
    assert patches(kube) == []
    assert RESTARTED_AT not in template_notes(kube)


def test_a_write_between_the_read_and_the_patch_is_a_409_refusal(
    kube: KubeApiFake,
    kc: KubeClient,
    make_ctx: Callable[..., ActionContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    real_read = kc.read_deployment

    def read_then_race(namespace: str, name: str) -> dict[str, Any]:
        dep = real_read(namespace, name)
        kube.roll(NS, NAME, "reg/stream-scorer:4.2")
        return dep

    monkeypatch.setattr(kc, "read_deployment", read_then_race)

    with pytest.raises(ActionRefused, match="changed while it was being restarted"):
        action.apply(ctx, params(), plan)
    assert RESTARTED_AT not in template_notes(kube)


def test_a_scale_after_the_plan_does_not_void_it(
    kube: KubeApiFake, kc: KubeClient, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kc.patch_scale(NS, NAME, 6, None)
    assert action.apply(ctx, params(), plan).ok
    assert template_notes(kube)[RESTARTED_AT] == plan.pinned["restarted_at"]


def test_a_paused_deployment_is_refused(
    kc: KubeClient, make_ctx: Callable[..., ActionContext]
) -> None:
    kc.apps.patch_namespaced_deployment(NAME, NS, {"spec": {"paused": True}})
    with pytest.raises(ActionRefused, match="paused"):
        action.plan(make_ctx(), params())
