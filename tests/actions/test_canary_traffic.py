"""``canary_traffic`` and ``promote_canary`` against the Kubernetes API fake (under the
chart's Role): the split shown in the plan, one merge patch pinned to the resourceVersion, a
second apply that patches nothing, and refusals for a stale plan or a revision that is not
ready."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionRefused
from actions.kserve_canary import CanaryTraffic, PromoteCanary
from actions.registry import REGISTRY
from bot.errors import ExternalServiceError
from tests.actions.conftest import NS
from tests.fakes.kubernetes.api import KubeApiFake

NAME = "fraud-model"
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{NAME}"
shift = CanaryTraffic()
promote = PromoteCanary()


def params(**extra: Any) -> Any:
    return shift.parse({"namespace": NS, "inferenceservice": NAME, **extra})


def patches(kube: KubeApiFake) -> list[tuple[str, str, str | None]]:
    return [r for r in kube.requests if r[0] != "GET"]


def predictor(kube: KubeApiFake) -> dict[str, Any]:
    return dict(kube.inferenceservice(NS, NAME)["status"]["components"]["predictor"])


def test_registered_with_params_that_forbid_unknown_fields_and_bad_percents() -> None:
    assert isinstance(REGISTRY["canary_traffic"], CanaryTraffic)
    assert isinstance(REGISTRY["promote_canary"], PromoteCanary)
    with pytest.raises(ValidationError):
        params(weight=0)
    with pytest.raises(ValidationError):
        params(percent=101)
    with pytest.raises(ValidationError):
        params(percent=-1)


def test_plan_shows_the_split_and_pins_the_object_without_writing(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3")
    kube.clear_requests()

    plan = shift.plan(make_ctx(), params())

    assert plan.summary == (
        f"Send all traffic of {NS}/{NAME} back to fraud-model-predictor-00002 (canary "
        "fraud-model-predictor-00003 from 10% to 0%)"
    )
    assert plan.lines[0] == (
        "traffic now: 90% fraud-model-predictor-00002 (prev), 10% fraud-model-predictor-00003 "
        "(canary)"
    )
    isvc = kube.inferenceservice(NS, NAME)
    assert plan.pinned["resource_version"] == isvc["metadata"]["resourceVersion"]
    assert plan.pinned["rolled_out"] == "fraud-model-predictor-00002"
    assert patches(kube) == []


def test_apply_sends_every_request_back_once_with_a_merge_patch(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3")
    ctx = make_ctx()
    plan = shift.plan(ctx, params())
    kube.clear_requests()

    result = shift.apply(ctx, params(), plan)
    again = shift.apply(ctx, params(), plan)  # a retry, a second click

    assert result.ok
    assert "set to 0%" in result.summary
    assert again.ok
    assert again.data["already"] is True
    assert patches(kube) == [("PATCH", PATH, "application/merge-patch+json")]
    isvc = kube.inferenceservice(NS, NAME)
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 0
    traffic = {t["tag"]: t["percent"] for t in predictor(kube)["traffic"]}
    assert traffic == {"prev": 100, "latest": 0}


def test_a_given_percent_moves_that_share_to_the_canary(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3", canary_percent=0)
    ctx = make_ctx()
    plan = shift.plan(ctx, params(percent=25))
    assert plan.summary.startswith("Set the canary fraud-model-predictor-00003")

    shift.apply(ctx, params(percent=25), plan)

    traffic = {t["tag"]: t["percent"] for t in predictor(kube)["traffic"]}
    assert traffic == {"prev": 75, "latest": 25}


def test_the_same_percent_is_a_noop(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3", canary_percent=0)
    plan = shift.plan(make_ctx(), params())
    assert plan.noop
    assert "at 0% already" in plan.summary


def test_a_stale_plan_is_refused_when_the_object_changed_after_the_approval(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3")
    ctx = make_ctx()
    plan = shift.plan(ctx, params())
    # A deploy writes the predictor meanwhile (a new model, a new generation).
    kube.set_inferenceservice_spec(
        NS,
        NAME,
        {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/fraud/4"}},
    )
    kube.clear_requests()

    with pytest.raises(ActionRefused, match="changed since this was approved"):
        shift.apply(ctx, params(), plan)
    assert patches(kube) == []


def test_a_lost_race_is_a_409_from_the_api_server_and_a_refusal(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3")
    ctx = make_ctx()
    plan = shift.plan(ctx, params())
    kube.fail_next(status=409, method="PATCH", path=PATH)

    with pytest.raises(ActionRefused, match="changed while its traffic was being shifted"):
        shift.apply(ctx, params(), plan)
    assert kube.inferenceservice(NS, NAME)["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_no_rolled_out_revision_or_a_route_not_ready_is_refused_in_the_plan(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/1", rolled_out=None, latest=1)
    with pytest.raises(ActionRefused, match="no previous revision ready"):
        shift.plan(make_ctx(), params())

    kube.add_inferenceservice(NS, "other", "s3://models/other/3", ready=False)
    with pytest.raises(ActionRefused, match=r"route of .* is not ready"):
        shift.plan(make_ctx(), params(inferenceservice="other"))


def test_promote_removes_the_percent_and_the_canary_takes_everything_once(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3")
    ctx = make_ctx()
    raw = {"namespace": NS, "inferenceservice": NAME}
    plan = promote.plan(ctx, promote.parse(raw))
    assert plan.summary == (
        f"Promote the canary fraud-model-predictor-00003 of {NS}/{NAME} to 100% of traffic "
        "(from 10%)"
    )
    kube.clear_requests()

    promote.apply(ctx, promote.parse(raw), plan)
    again = promote.apply(ctx, promote.parse(raw), plan)

    assert again.data["already"] is True
    assert len(patches(kube)) == 1
    isvc = kube.inferenceservice(NS, NAME)
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    status = predictor(kube)
    assert status["latestRolledoutRevision"] == "fraud-model-predictor-00003"
    assert status["traffic"] == [
        {
            "latestRevision": True,
            "percent": 100,
            "revisionName": "fraud-model-predictor-00003",
            "tag": "latest",
        }
    ]


def test_without_the_role_the_patch_is_forbidden(
    kube: KubeApiFake, make_ctx: Callable[..., ActionContext]
) -> None:
    kube.add_inferenceservice(NS, NAME, "s3://models/fraud/3")
    ctx = make_ctx()
    plan = shift.plan(ctx, params())
    kube.deny("patch", "inferenceservices", NS)

    with pytest.raises(ExternalServiceError) as err:
        shift.apply(ctx, params(), plan)
    assert err.value.status == 403
