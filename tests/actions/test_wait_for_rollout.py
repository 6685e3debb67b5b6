"""``wait_for_rollout`` against the Kubernetes API fake, on a clock that moves only when it
sleeps: complete, failed, out of time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionFailed
from actions.k8s_wait import WaitForRollout
from actions.registry import REGISTRY
from tests.actions.conftest import NS, FakeClock
from tests.fakes.kubernetes.api import KubeApiFake

NAME = "fraud-scorer"
action = WaitForRollout()


def params(**extra: Any) -> Any:
    return action.parse({"namespace": NS, "deployment": NAME, **extra})


@pytest.fixture
def rolling(kube: KubeApiFake) -> None:
    """A rollout in progress: revision 2 held with no new pod ready."""
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=4)
    kube.hold_rollouts()
    kube.roll(NS, NAME, "reg/fraud:2")


def test_registered_read_only_with_bounded_params() -> None:
    assert isinstance(REGISTRY["wait_for_rollout"], WaitForRollout)
    assert WaitForRollout.writes is False
    with pytest.raises(ValidationError):
        params(timeout_s=3601)
    with pytest.raises(ValidationError):
        params(poll_s=0)


@pytest.mark.usefixtures("rolling")
def test_a_held_rollout_that_completes_is_done(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    clock.on_sleep = lambda n: kube.complete_rollout(NS, NAME) if n == 3 else None
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    assert plan.summary == f"Wait up to 300s for the rollout of {NS}/{NAME} to complete"

    result = action.apply(ctx, params(), plan)

    assert result.ok
    assert result.summary == f'deployment "{NAME}" successfully rolled out (6s)'
    assert clock.sleeps == [2.0, 2.0, 2.0]
    assert result.data["available"] == 4


@pytest.mark.usefixtures("rolling")
def test_a_failed_rollout_fails_at_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    clock.on_sleep = lambda n: kube.fail_rollout(NS, NAME) if n == 2 else None
    ctx = make_ctx()

    with pytest.raises(ActionFailed, match="exceeded its progress deadline"):
        action.apply(ctx, params(), action.plan(ctx, params()))
    assert len(clock.sleeps) == 2


@pytest.mark.usefixtures("rolling")
def test_the_deadline_fails_with_the_last_status(
    make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    ctx = make_ctx()
    p = params(timeout_s=10, poll_s=3)

    with pytest.raises(ActionFailed) as exc:
        action.apply(ctx, p, action.plan(ctx, p))

    assert str(exc.value) == (
        f"the rollout of {NS}/{NAME} did not complete within 10s: Waiting for deployment "
        f'"{NAME}" rollout to finish: 2 out of 4 new replicas have been updated...'
    )
    assert clock.sleeps == [3, 3, 3, 1]


@pytest.mark.usefixtures("rolling")
def test_an_answer_that_does_not_come_is_polled_again(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    kube.fail_next(2, 503)
    clock.on_sleep = lambda n: kube.complete_rollout(NS, NAME) if n == 2 else None
    ctx = make_ctx()

    assert action.apply(ctx, params(), action.plan(ctx, params())).ok
    assert len(clock.sleeps) == 2


def test_a_missing_deployment_fails(make_ctx: Callable[..., ActionContext]) -> None:
    ctx = make_ctx()
    with pytest.raises(ActionFailed, match="not found"):
        action.apply(ctx, params(), action.plan(ctx, params()))


def test_an_already_complete_rollout_needs_no_sleep(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], clock: FakeClock
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=2)
    ctx = make_ctx()
    assert action.apply(ctx, params(), action.plan(ctx, params())).ok
    assert clock.sleeps == []
