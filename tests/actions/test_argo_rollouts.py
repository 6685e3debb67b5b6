"""``abort_rollout``, ``promote_rollout`` and ``undo_rollout`` against the Kubernetes API fake
(under the chart's Role): the patches ``kubectl argo rollouts`` sends, each applied once, and
refusals when the Rollout moved on after the approval."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from actions.argo_rollouts import AbortRollout, PromoteRollout
from actions.argo_undo import UndoRollout
from actions.base import ActionContext, ActionRefused
from actions.registry import REGISTRY
from bot.errors import ExternalServiceError
from tests.actions.conftest import NS
from tests.fakes.kubernetes.api import KubeApiFake

NAME = "fraud-scorer"
PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{NAME}"
IMAGES = ["reg/fraud-scorer:1.0", "reg/fraud-scorer:1.1", "reg/fraud-scorer:1.2"]
abort, promote, undo = AbortRollout(), PromoteRollout(), UndoRollout()


def raw(**extra: Any) -> dict[str, Any]:
    return {"namespace": NS, "rollout": NAME, **extra}


def writes(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] != "GET"]


def image(kube: KubeApiFake) -> str:
    return str(kube.rollout(NS, NAME)["spec"]["template"]["spec"]["containers"][0]["image"])


def test_registered_with_params_that_forbid_unknown_fields() -> None:
    for name in ("abort_rollout", "promote_rollout", "undo_rollout"):
        assert name in REGISTRY
    with pytest.raises(ValidationError):
        abort.parse(raw(force=True))
    with pytest.raises(ValidationError):
        undo.parse(raw(to_revision=0))


def test_abort_patches_the_status_subresource_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)
    ctx = make_ctx()
    plan = abort.plan(ctx, abort.parse(raw()))
    stable = kube.rollout(NS, NAME)["status"]["stableRS"]
    assert plan.summary.startswith(
        f"Abort the update of rollout {NS}/{NAME}: traffic back to stable rs {stable}"
    )
    assert "Paused at step 3/8, canary 20%" in plan.lines[0]
    kube.clear_requests()

    result = abort.apply(ctx, abort.parse(raw()), plan)
    again = abort.apply(ctx, abort.parse(raw()), plan)

    assert result.ok
    assert again.data["already"] is True
    assert writes(kube) == [("PATCH", f"{PATH}/status", "application/merge-patch+json")]
    status = kube.rollout(NS, NAME)["status"]
    assert status["abort"] is True
    assert status["phase"] == "Degraded"
    assert status["message"].startswith("RolloutAborted")


def test_abort_is_refused_when_the_rollout_moved_to_another_update(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)
    ctx = make_ctx()
    plan = abort.plan(ctx, abort.parse(raw()))
    # Meanwhile the update is promoted to the end: the canary is the stable one now.
    rollout = kube.rollout(NS, NAME)
    promote.apply(ctx, promote.parse(raw()), promote.plan(ctx, promote.parse(raw())))
    kube.store.update_status(
        kube.store_kind("rollouts"),
        NS,
        NAME,
        {
            **kube.rollout(NS, NAME),
            "status": {
                **rollout["status"],
                "currentPodHash": "0000000000",
                "pauseConditions": None,
            },
        },
    )
    kube.clear_requests()

    with pytest.raises(ActionRefused, match="changed since this was approved"):
        abort.apply(ctx, abort.parse(raw()), plan)
    assert writes(kube) == []


def test_abort_of_a_rollout_that_is_not_updating_is_refused(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES[:1])
    with pytest.raises(ActionRefused, match="nothing to abort"):
        abort.plan(make_ctx(), abort.parse(raw()))


def test_promote_clears_the_pause_as_the_plugin_and_runs_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)  # paused at step 3 (a pause step)
    ctx = make_ctx()
    plan = promote.plan(ctx, promote.parse(raw()))
    assert plan.pinned["status_patch"] == {"pauseConditions": None}
    kube.clear_requests()

    promote.apply(ctx, promote.parse(raw()), plan)
    again = promote.apply(ctx, promote.parse(raw()), plan)

    assert again.data["already"] is True
    assert writes(kube) == [("PATCH", f"{PATH}/status", "application/merge-patch+json")]
    status = kube.rollout(NS, NAME)["status"]
    assert "pauseConditions" not in status
    assert status["currentStepIndex"] == 3
    assert status["phase"] == "Progressing"


def test_promote_without_pause_conditions_advances_the_step_and_unpauses_the_spec(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES, step_index=2)  # a setWeight step: no pause condition
    body = kube.rollout(NS, NAME)
    body["spec"]["paused"] = True
    kube.store.update(kube.store_kind("rollouts"), NS, NAME, body)
    ctx = make_ctx()
    plan = promote.plan(ctx, promote.parse(raw()))
    assert plan.pinned["status_patch"] == {"pauseConditions": None, "currentStepIndex": 3}
    assert plan.pinned["unpause"] is True
    kube.clear_requests()

    promote.apply(ctx, promote.parse(raw()), plan)

    assert writes(kube) == [
        ("PATCH", f"{PATH}/status", "application/merge-patch+json"),
        ("PATCH", PATH, "application/merge-patch+json"),
    ]
    rollout = kube.rollout(NS, NAME)
    assert rollout["status"]["currentStepIndex"] == 3
    assert rollout["spec"]["paused"] is False


def test_undo_json_patches_the_pinned_revision_template_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)
    ctx = make_ctx()
    plan = undo.plan(ctx, undo.parse(raw(to_revision=1)))
    assert plan.summary == (
        f"Undo rollout {NS}/{NAME} to revision 1 (reg/fraud-scorer:1.0; now reg/fraud-scorer:1.2)"
    )
    kube.clear_requests()

    result = undo.apply(ctx, undo.parse(raw(to_revision=1)), plan)
    again = undo.apply(ctx, undo.parse(raw(to_revision=1)), plan)

    assert result.ok
    assert again.data["already"] is True
    assert writes(kube) == [("PATCH", PATH, "application/json-patch+json")]
    assert image(kube) == IMAGES[0]
    labels = kube.rollout(NS, NAME)["spec"]["template"]["metadata"]["labels"]
    assert "rollouts-pod-template-hash" not in labels
    revisions = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["metadata"]["annotations"][
            "rollout.argoproj.io/revision"
        ]
        for rs in kube.rollout_replicasets(NS, NAME)
    }
    assert revisions[IMAGES[0]] == "4"  # the controller made it the newest revision


def test_undo_defaults_to_the_revision_before_the_newest(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)
    plan = undo.plan(make_ctx(), undo.parse(raw()))
    assert plan.pinned["to_revision"] == 2
    with pytest.raises(ActionRefused, match=r"revision 9 .* not found \(.*revisions 1, 2, 3\)"):
        undo.plan(make_ctx(), undo.parse(raw(to_revision=9)))


def test_undo_with_a_stale_plan_is_refused(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)
    ctx = make_ctx()
    plan = undo.plan(ctx, undo.parse(raw(to_revision=1)))
    kube.set_rollout_image(NS, NAME, "reg/fraud-scorer:1.3")  # another deploy meanwhile
    kube.clear_requests()

    with pytest.raises(ActionRefused, match="changed since the undo was approved"):
        undo.apply(ctx, undo.parse(raw(to_revision=1)), plan)
    assert writes(kube) == []
    assert image(kube) == "reg/fraud-scorer:1.3"


def test_without_the_role_the_status_patch_is_forbidden(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_rollout(NS, NAME, IMAGES)
    ctx = make_ctx()
    plan = abort.plan(ctx, abort.parse(raw()))
    kube.deny("patch", "rollouts/status", NS)
    with pytest.raises(ExternalServiceError) as err:
        abort.apply(ctx, abort.parse(raw()), plan)
    assert err.value.status == 403
