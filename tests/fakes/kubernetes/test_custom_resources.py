"""The fake's custom resources through the official client's ``CustomObjectsApi``: what the API
server does for a CRD (no strategic merge patch, the status subresource, resourceVersion
conflicts, the schema's validation, 404 as a ``Status``)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiClient, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.kubernetes.conftest import NS

KSERVE = ("serving.kserve.io", "v1beta1", NS, "inferenceservices")
ARGO = ("argoproj.io", "v1alpha1", NS, "rollouts")
IMAGES = ["reg/fraud-scorer:1.0", "reg/fraud-scorer:1.1"]


def error(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.value.body)
    return body


def test_an_inferenceservice_reads_in_its_real_shape(kube: KubeApiFake, api: ApiClient) -> None:
    kube.add_inferenceservice(NS, "fraud-model", "s3://m/3")
    isvc = CustomObjectsApi(api).get_namespaced_custom_object(*KSERVE, "fraud-model")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["kind"] == "InferenceService"
    predictor = isvc["status"]["components"]["predictor"]
    assert predictor["latestRolledoutRevision"] == "fraud-model-predictor-00002"
    assert [t["percent"] for t in predictor["traffic"]] == [10, 90]
    listed = CustomObjectsApi(api).list_namespaced_custom_object(*KSERVE)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["fraud-model"]


def test_a_missing_object_is_a_404_status(kube: KubeApiFake, api: ApiClient) -> None:
    with pytest.raises(ApiException) as exc:
        CustomObjectsApi(api).get_namespaced_custom_object(*ARGO, "nope")
    assert exc.value.status == 404
    body = error(exc)
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["message"] == 'rollouts.argoproj.io "nope" not found'


def test_strategic_merge_patch_is_refused_for_custom_resources(
    kube: KubeApiFake, api: ApiClient
) -> None:
    kube.add_inferenceservice(NS, "fraud-model", "s3://m/3")
    with pytest.raises(ApiException) as exc:
        CustomObjectsApi(api).patch_namespaced_custom_object(
            *KSERVE,
            "fraud-model",
            {"spec": {"predictor": {"canaryTrafficPercent": 0}}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert exc.value.status == 415
    assert "application/merge-patch+json" in str(error(exc)["message"])


def test_the_schema_bounds_canary_traffic_percent(kube: KubeApiFake, api: ApiClient) -> None:
    kube.add_inferenceservice(NS, "fraud-model", "s3://m/3")
    for value, words in ((150, "less than or equal to 100"), ("10", "must be of type integer")):
        with pytest.raises(ApiException) as exc:
            CustomObjectsApi(api).patch_namespaced_custom_object(
                *KSERVE, "fraud-model", {"spec": {"predictor": {"canaryTrafficPercent": value}}}
            )
        assert exc.value.status == 422
        assert words in str(error(exc)["message"])


def test_a_stale_resource_version_is_a_409_and_every_write_bumps_it(
    kube: KubeApiFake, api: ApiClient
) -> None:
    old = kube.add_inferenceservice(NS, "fraud-model", "s3://m/3")["metadata"]["resourceVersion"]
    custom = CustomObjectsApi(api)
    body = {
        "metadata": {"resourceVersion": old},
        "spec": {"predictor": {"canaryTrafficPercent": 0}},
    }
    written = custom.patch_namespaced_custom_object(*KSERVE, "fraud-model", body)
    assert int(written["metadata"]["resourceVersion"]) > int(old)
    with pytest.raises(ApiException) as exc:
        custom.patch_namespaced_custom_object(*KSERVE, "fraud-model", body)
    assert exc.value.status == 409
    assert error(exc)["reason"] == "Conflict"


def test_the_main_object_ignores_status_and_the_status_subresource_changes_only_it(
    kube: KubeApiFake, api: ApiClient
) -> None:
    kube.add_rollout(NS, "fraud-scorer", IMAGES)
    custom = CustomObjectsApi(api)
    custom.patch_namespaced_custom_object(
        *ARGO, "fraud-scorer", {"spec": {"paused": True}, "status": {"abort": True}}
    )
    rollout = kube.rollout(NS, "fraud-scorer")
    assert rollout["spec"]["paused"] is True
    assert "abort" not in rollout["status"]
    generation = rollout["metadata"]["generation"]

    custom.patch_namespaced_custom_object_status(
        *ARGO, "fraud-scorer", {"spec": {"paused": False}, "status": {"abort": True}}
    )
    rollout = kube.rollout(NS, "fraud-scorer")
    assert rollout["status"]["abort"] is True
    assert rollout["spec"]["paused"] is True
    assert rollout["metadata"]["generation"] == generation


def test_a_json_patch_with_a_failed_test_op_is_422(kube: KubeApiFake, api: ApiClient) -> None:
    kube.add_rollout(NS, "fraud-scorer", IMAGES)
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/spec/paused", "value": True},
    ]
    with pytest.raises(ApiException) as exc:
        CustomObjectsApi(api).patch_namespaced_custom_object(
            *ARGO, "fraud-scorer", ops, _content_type="application/json-patch+json"
        )
    assert exc.value.status == 422
    assert "paused" not in kube.rollout(NS, "fraud-scorer")["spec"]


def test_status_fields_are_validated_on_a_status_write(kube: KubeApiFake, api: ApiClient) -> None:
    kube.add_rollout(NS, "fraud-scorer", IMAGES)
    with pytest.raises(ApiException) as exc:
        CustomObjectsApi(api).patch_namespaced_custom_object_status(
            *ARGO, "fraud-scorer", {"status": {"currentStepIndex": -1}}
        )
    assert exc.value.status == 422
    assert "status.currentStepIndex" in str(error(exc)["message"])
