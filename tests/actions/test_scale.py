"""``scale_deployment`` against the Kubernetes API fake: the scale subresource with a precondition,
the HPA when one owns the count, the doubling guard, and no-ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionRefused
from actions.k8s_scale import MAX_REPLICAS, MAX_SCALE_FACTOR, ScaleDeployment
from actions.registry import REGISTRY
from bot.clients.kubernetes import KubeClient
from tests.actions.conftest import NS
from tests.fakes.kubernetes.api import KubeApiFake

NAME = "fraud-scorer"
SCALE_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}/scale"
HPA_PATH = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/{NAME}"
action = ScaleDeployment()


def params(replicas: Any) -> Any:
    return action.parse({"namespace": NS, "deployment": NAME, "replicas": replicas})


def replicas(kube: KubeApiFake) -> int:
    return int(kube.deployment(NS, NAME)["spec"]["replicas"])


def writes(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] != "GET"]


def add_hpa(kube: KubeApiFake, low: int, high: int) -> None:
    kube.create(
        "horizontalpodautoscalers",
        NS,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": NAME},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
                "minReplicas": low,
                "maxReplicas": high,
            },
        },
    )


def test_registered_and_params_bounded() -> None:
    assert isinstance(REGISTRY["scale_deployment"], ScaleDeployment)
    assert params("6").replicas == 6  # playbooks render numbers as text
    for bad in (-1, 1001):
        with pytest.raises(ValidationError):
            params(bad)


def test_scale_patches_the_scale_subresource_with_the_planned_resource_version(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    ctx = make_ctx()
    kube.clear_requests()
    plan = action.plan(ctx, params(5))
    assert writes(kube) == []
    assert plan.summary == f"Scale {NS}/{NAME} from 3 to 5 replicas"
    assert (
        plan.pinned["resource_version"] == kube.deployment(NS, NAME)["metadata"]["resourceVersion"]
    )
    assert plan.pinned["hpa"] is None

    result = action.apply(ctx, params(5), plan)

    assert result.ok
    assert result.data == {"namespace": NS, "deployment": NAME, "from_replicas": 3, "replicas": 5}
    assert replicas(kube) == 5
    assert [(m, p) for m, p, _ in writes(kube)] == [("PATCH", SCALE_PATH)]


def test_a_count_changed_after_the_plan_is_refused(
    kube: KubeApiFake, kc: KubeClient, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    ctx = make_ctx()
    plan = action.plan(ctx, params(5))
    kc.patch_scale(NS, NAME, 4, None)  # someone else scaled meanwhile
    kube.clear_requests()

    with pytest.raises(ActionRefused, match=r"scaled since this was approved \(replicas 3 → 4"):
        action.apply(ctx, params(5), plan)
    assert writes(kube) == []
    assert replicas(kube) == 4


def test_a_write_between_the_read_and_the_patch_is_a_409_refusal(
    kube: KubeApiFake,
    kc: KubeClient,
    make_ctx: Callable[..., ActionContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    ctx = make_ctx()
    plan = action.plan(ctx, params(5))
    real_read = kc.read_scale

    def read_then_race(namespace: str, name: str) -> dict[str, Any]:
        scale = real_read(namespace, name)
        kube.roll(NS, NAME, "reg/fraud:2")  # a deploy lands right after the read
        return scale

    monkeypatch.setattr(kc, "read_scale", read_then_race)

    with pytest.raises(ActionRefused, match="changed while it was being scaled"):
        action.apply(ctx, params(5), plan)
    assert replicas(kube) == 3


def test_an_hpa_owned_deployment_gets_its_hpa_patched_not_its_scale(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    add_hpa(kube, 2, 5)
    ctx = make_ctx()
    plan = action.plan(ctx, params(6))
    assert plan.summary == (
        f"HPA {NAME} owns the replica count of {NS}/{NAME}: raising its minReplicas 2 → 6 instead"
    )
    assert f"HPA {NAME}: maxReplicas 5 → 6, to fit" in plan.lines
    kube.clear_requests()

    result = action.apply(ctx, params(6), plan)

    assert result.ok
    hpa = kube.get("horizontalpodautoscalers", NS, NAME)
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (6, 6)
    assert replicas(kube) == 3  # the Deployment's own count untouched: the HPA sets it
    assert [(m, p, c) for m, p, c in writes(kube)] == [
        ("PATCH", HPA_PATH, "application/merge-patch+json")
    ]
    again = action.apply(ctx, params(6), plan)
    assert again.data["already"] is True
    assert len(writes(kube)) == 1


def test_an_hpa_changed_after_the_plan_is_refused(
    kube: KubeApiFake, kc: KubeClient, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    add_hpa(kube, 2, 5)
    ctx = make_ctx()
    plan = action.plan(ctx, params(4))
    kc.patch_hpa(NS, NAME, min_replicas=3, max_replicas=8, resource_version=None)

    with pytest.raises(ActionRefused, match=r"changed since this was approved \(minReplicas 2 → 3"):
        action.apply(ctx, params(4), plan)


def test_an_hpa_cannot_be_asked_for_zero(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    add_hpa(kube, 2, 5)
    with pytest.raises(ActionRefused, match="cannot go below 1"):
        action.plan(make_ctx(), params(0))


def test_more_than_twice_the_current_count_is_refused(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    assert MAX_SCALE_FACTOR == 2
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    with pytest.raises(ActionRefused, match="from 3 to 7 replicas is more than 2 times"):
        action.plan(make_ctx(), params(7))
    assert not action.plan(make_ctx(), params(6)).noop


def test_from_zero_any_count_up_to_the_maximum(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=0)
    assert action.plan(make_ctx(), params(MAX_REPLICAS)).pinned["to_replicas"] == MAX_REPLICAS
    with pytest.raises(ActionRefused, match="more than this action ever sets"):
        action.plan(make_ctx(), params(MAX_REPLICAS + 1))


def test_the_same_count_is_a_noop_and_apply_writes_nothing(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    ctx = make_ctx()
    plan = action.plan(ctx, params(3))
    assert plan.noop
    assert plan.summary == f"{NS}/{NAME} already has 3 replicas"
    kube.clear_requests()
    result = action.apply(ctx, params(3), plan)
    assert result.ok
    assert result.data["already"] is True
    assert writes(kube) == []


def test_applying_twice_scales_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_deployment(NS, NAME, "reg/fraud:1", replicas=3)
    ctx = make_ctx()
    plan = action.plan(ctx, params(6))
    kube.clear_requests()
    action.apply(ctx, params(6), plan)
    second = action.apply(ctx, params(6), plan)
    assert second.summary == f"{NS}/{NAME} already has 6 replicas"
    assert len(writes(kube)) == 1
