"""``rollback_deployment`` against the Kubernetes API fake: the pinned revision, one PATCH however
often it is applied, and refusals when the Deployment moved after the approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionRefused, Plan
from actions.k8s_rollback import RollbackDeployment
from actions.registry import REGISTRY
from bot.clients.kubernetes import KubeClient
from bot.errors import ExternalServiceError
from tests.actions.conftest import NS, T0
from tests.fakes.kubernetes.api import KubeApiFake

NAME = "fraud-scorer"
IMAGE = "reg/ml/fraud-scorer:{}"
action = RollbackDeployment()


@pytest.fixture
def three_revisions(kube: KubeApiFake) -> None:
    kube.add_deployment(NS, NAME, IMAGE.format("2.2.0"), change_cause="ci #1", at=T0)
    kube.roll(NS, NAME, IMAGE.format("2.3.0"), change_cause="ci #2", at=T0 + timedelta(hours=1))
    kube.roll(NS, NAME, IMAGE.format("2.3.1"), change_cause="ci #3", at=T0 + timedelta(hours=2))


def params(**extra: Any) -> Any:
    return action.parse({"namespace": NS, "deployment": NAME, **extra})


def image(kube: KubeApiFake) -> str:
    return str(kube.deployment(NS, NAME)["spec"]["template"]["spec"]["containers"][0]["image"])


def revision(kube: KubeApiFake) -> str:
    notes = kube.deployment(NS, NAME)["metadata"]["annotations"]
    return str(notes["deployment.kubernetes.io/revision"])


def patches(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] != "GET"]


def test_registered_with_params_that_forbid_unknown_fields() -> None:
    assert isinstance(REGISTRY["rollback_deployment"], RollbackDeployment)
    with pytest.raises(ValidationError):
        params(revision=2)
    with pytest.raises(ValidationError):
        params(to_revision=0)


@pytest.mark.usefixtures("three_revisions")
def test_plan_targets_the_previous_revision_by_default_and_reads_only(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.clear_requests()
    plan = action.plan(make_ctx(), params())

    assert plan.summary == (
        f"Roll back {NS}/{NAME} from revision 3 (reg/ml/fraud-scorer:2.3.1) to revision 2 "
        "(reg/ml/fraud-scorer:2.3.0)"
    )
    assert not plan.noop
    pinned = plan.pinned
    assert (pinned["from_revision"], pinned["to_revision"]) == (3, 2)
    assert pinned["from_images"] == [IMAGE.format("2.3.1")]
    assert pinned["to_images"] == [IMAGE.format("2.3.0")]
    assert pinned["resource_version"] == kube.deployment(NS, NAME)["metadata"]["resourceVersion"]
    assert pinned["to_template"] != pinned["from_template"]
    assert any("change-cause of revision 2: ci #2" in line for line in plan.lines)
    assert patches(kube) == []  # plan() never writes


@pytest.mark.usefixtures("three_revisions")
def test_to_revision_1_rolls_back_to_its_template_reusing_its_replicaset(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    first_rs = kube.replicasets(NS, NAME)[0]["metadata"]["name"]
    ctx = make_ctx()
    plan = action.plan(ctx, params(to_revision=1))
    assert plan.pinned["to_images"] == [IMAGE.format("2.2.0")]

    result = action.apply(ctx, params(to_revision=1), plan)

    assert result.ok
    assert result.data["revision"] == 4
    assert result.data["images"] == [IMAGE.format("2.2.0")]
    assert image(kube) == IMAGE.format("2.2.0")
    assert revision(kube) == "4"
    dep = kube.deployment(NS, NAME)
    assert dep["metadata"]["annotations"]["kubernetes.io/change-cause"] == "ci #1"
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]
    newest = kube.replicasets(NS, NAME)[-1]
    assert newest["metadata"]["name"] == first_rs  # the old ReplicaSet, not a new one
    assert patches(kube)[-1][2] == "application/json-patch+json"


@pytest.mark.usefixtures("three_revisions")
def test_plan_refuses_the_current_or_a_missing_revision(
    make_ctx: Callable[..., ActionContext],
) -> None:
    with pytest.raises(ActionRefused, match="at revision 3 already"):
        action.plan(make_ctx(), params(to_revision=3))
    with pytest.raises(ActionRefused, match=r"revision 9 .* not found \(.*revisions 1, 2, 3\)"):
        action.plan(make_ctx(), params(to_revision=9))


def test_plan_refuses_a_missing_deployment_or_one_without_history(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    with pytest.raises(ActionRefused, match="not found"):
        action.plan(make_ctx(), params())
    kube.add_deployment(NS, NAME, IMAGE.format("2.2.0"))
    with pytest.raises(ActionRefused, match="no revision before 1"):
        action.plan(make_ctx(), params())
    with pytest.raises(ActionRefused, match="Kubernetes is not configured"):
        action.plan(make_ctx(kube=None), params())


@pytest.mark.usefixtures("three_revisions")
def test_applying_the_same_plan_twice_patches_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kube.clear_requests()

    first = action.apply(ctx, params(), plan)
    second = action.apply(ctx, params(), plan)

    assert first.ok
    assert second.ok
    assert "already at revision 2" in second.summary
    assert second.data["already"] is True
    assert [r[0] for r in patches(kube)] == ["PATCH"]
    assert image(kube) == IMAGE.format("2.3.0")
    assert revision(kube) == "4"


@pytest.mark.usefixtures("three_revisions")
def test_a_retry_of_the_original_plan_after_success_never_goes_back_to_the_bad_version(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    action.apply(ctx, params(), plan)
    # What kubectl's "undo" would do now: the previous revision is the bad one.
    replanned = action.plan(ctx, params())
    assert replanned.pinned["to_images"] == [IMAGE.format("2.3.1")]
    kube.clear_requests()

    # The stored plan is applied again (the runner retries after a crash).
    again = action.apply(ctx, params(), Plan(**plan.as_json()))

    assert again.ok
    assert "already at revision 2" in again.summary
    assert patches(kube) == []
    assert image(kube) == IMAGE.format("2.3.0")


@pytest.mark.usefixtures("three_revisions")
def test_a_patch_whose_answer_was_lost_is_found_done_on_retry(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext], tmp_path: Path
) -> None:
    with KubeClient.from_kubeconfig(
        kube.write_kubeconfig(tmp_path / "impatient"), timeout_s=0.5
    ) as impatient:
        ctx = make_ctx(kube=impatient)
        plan = action.plan(ctx, params())
        kube.delay_next(2.0, method="PATCH")
        with pytest.raises(ExternalServiceError) as exc:
            action.apply(ctx, params(), plan)
        assert exc.value.status is None  # no answer: it may or may not have landed (it did)
        kube.clear_requests()

        again = action.apply(ctx, params(), plan)

    assert "already at revision 2" in again.summary
    assert patches(kube) == []
    assert image(kube) == IMAGE.format("2.3.0")


@pytest.mark.usefixtures("three_revisions")
def test_a_deployment_rolled_after_the_plan_is_refused_without_a_patch(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    before = plan.pinned["resource_version"]
    kube.roll(NS, NAME, IMAGE.format("2.4.0"))  # someone deployed meanwhile
    after = kube.deployment(NS, NAME)["metadata"]["resourceVersion"]
    kube.clear_requests()

    with pytest.raises(ActionRefused) as exc:
        action.apply(ctx, params(), plan)

    assert f"changed since the rollback was approved (resourceVersion {before} → {after}" in str(
        exc.value
    )
    assert "ask for a new approval" in str(exc.value)
    assert patches(kube) == []
    assert image(kube) == IMAGE.format("2.4.0")


@pytest.mark.usefixtures("three_revisions")
def test_status_writes_and_scaling_after_the_plan_do_not_void_it(
    kube: KubeApiFake, kc: KubeClient, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.hold_rollouts()
    kube.roll(NS, NAME, IMAGE.format("2.4.0"))
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kube.complete_rollout(NS, NAME)  # the controller writes status: a new resourceVersion
    kc.patch_scale(NS, NAME, 5, None)  # an HPA scales under load: a new generation
    dep = kube.deployment(NS, NAME)
    assert dep["metadata"]["resourceVersion"] != plan.pinned["resource_version"]
    assert dep["metadata"]["generation"] != plan.pinned["generation"]

    result = action.apply(ctx, params(), plan)

    assert result.ok
    assert image(kube) == IMAGE.format("2.3.1")
    assert kube.deployment(NS, NAME)["spec"]["replicas"] == 5  # the rollback keeps the count


@pytest.mark.usefixtures("three_revisions")
def test_a_deployment_paused_after_the_plan_is_refused(
    kube: KubeApiFake, kc: KubeClient, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kc.apps.patch_namespaced_deployment(NAME, NS, {"spec": {"paused": True}})
    with pytest.raises(ActionRefused, match="was paused since the rollback was approved"):
        action.apply(ctx, params(), plan)
    with pytest.raises(ActionRefused, match="is paused"):
        action.plan(ctx, params())
    assert image(kube) == IMAGE.format("2.3.1")


@pytest.mark.usefixtures("three_revisions")
def test_a_write_between_the_reread_and_the_patch_fails_the_test_op(
    kube: KubeApiFake,
    kc: KubeClient,
    make_ctx: Callable[..., ActionContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    real_read = kc.read_deployment
    reads = 0

    def read_then_race(namespace: str, name: str) -> dict[str, Any]:
        nonlocal reads
        reads += 1
        dep = real_read(namespace, name)
        if reads == 1:  # apply's re-read: someone deploys right after it
            kube.roll(NS, NAME, IMAGE.format("2.4.0"))
        return dep

    monkeypatch.setattr(kc, "read_deployment", read_then_race)
    kube.clear_requests()

    with pytest.raises(ActionRefused, match="changed while it was being rolled back"):
        action.apply(ctx, params(), plan)

    assert [r[0] for r in patches(kube)] == ["PATCH"]  # sent, and refused by the API server
    assert image(kube) == IMAGE.format("2.4.0")
    assert revision(kube) == "4"


@pytest.mark.usefixtures("three_revisions")
def test_a_409_conflict_on_the_patch_is_a_refusal(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kube.fail_next(1, 409, method="PATCH")

    with pytest.raises(ActionRefused, match="changed while it was being rolled back"):
        action.apply(ctx, params(), plan)
    assert image(kube) == IMAGE.format("2.3.1")


@pytest.mark.usefixtures("three_revisions")
def test_other_api_errors_on_the_patch_are_not_hidden(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    ctx = make_ctx()
    plan = action.plan(ctx, params())
    kube.deny("patch", "deployments", NS)

    with pytest.raises(ExternalServiceError) as exc:
        action.apply(ctx, params(), plan)
    assert exc.value.status == 403
    assert image(kube) == IMAGE.format("2.3.1")
