"""The Kubernetes API server fake, proved through the official ``kubernetes`` client.

Each test names the API server (or controller) behaviour it proves; each would fail if the fake
lacked it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.kubernetes.conftest import NS
from tests.support import pods

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}


@pytest.fixture
def apps(api: ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def batch(api: ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == exc.value.status
    return body


def deployment_body(name: str, image: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "main", "image": image, "env": [{"name": "A", "value": "1"}]}
                    ]
                },
            },
        },
    }


def owned(kube: KubeApiFake, name: str) -> list[tuple[str, str, int]]:
    """(name, revision, replicas) of each ReplicaSet the Deployment owns."""
    return [
        (
            rs["metadata"]["name"],
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            rs["spec"]["replicas"],
        )
        for rs in kube.replicasets(NS, name)
    ]


# -- auth, kubeconfig, reading ------------------------------------------------------------------


def test_requests_without_the_bearer_token_are_refused_with_401(kube: KubeApiFake) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1")
    for token in (None, "wrong"):
        configuration = Configuration(host=kube.url)
        if token:
            configuration.api_key = {"BearerToken": f"Bearer {token}"}
        with ApiClient(configuration) as bare, pytest.raises(ApiException) as exc:
            client.AppsV1Api(bare).read_namespaced_deployment("fraud-scorer", NS)
        assert exc.value.status == 401
        assert status_of(exc)["reason"] == "Unauthorized"


def test_kubeconfig_loads_with_load_kube_config_and_names_the_context(
    kube: KubeApiFake, kubeconfig: Path
) -> None:
    configuration = Configuration()
    config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration, persist_config=False
    )
    assert configuration.host == kube.url
    assert configuration.api_key["BearerToken"] == f"Bearer {kube.token}"
    contexts, active = config.list_kube_config_contexts(config_file=str(kubeconfig))
    assert active["context"]["namespace"] == NS
    assert len(contexts) == 1
    with ApiClient(configuration) as api:
        assert client.VersionApi(api).get_code().git_version.startswith("v1.")


def test_get_list_with_label_selectors_and_404_status(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1", labels={"app": "fraud", "tier": "api"})
    kube.add_deployment(NS, "fraud-batch", "reg/fraud:1", labels={"app": "fraud", "tier": "job"})
    kube.add_deployment("other", "web", "reg/web:1")

    dep = apps.read_namespaced_deployment("fraud-scorer", NS)
    assert isinstance(dep, client.V1Deployment)
    assert (dep.api_version, dep.kind, dep.metadata.generation) == ("apps/v1", "Deployment", 1)
    assert dep.metadata.creation_timestamp.tzinfo is not None
    assert dep.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"

    listed = apps.list_namespaced_deployment(NS, label_selector="app=fraud,tier!=job")
    assert listed.kind == "DeploymentList"
    assert listed.api_version == "apps/v1"
    assert int(listed.metadata.resource_version) >= int(dep.metadata.resource_version)
    assert [d.metadata.name for d in listed.items] == ["fraud-scorer"]

    def names(selector: str) -> list[str]:
        found = apps.list_namespaced_deployment(NS, label_selector=selector)
        return [d.metadata.name for d in found.items]

    assert names("tier in (api,job)") == ["fraud-batch", "fraud-scorer"]
    assert names("!tier") == []
    everywhere = apps.list_deployment_for_all_namespaces()
    assert [(d.metadata.namespace, d.metadata.name) for d in everywhere.items] == [
        (NS, "fraud-batch"),
        (NS, "fraud-scorer"),
        ("other", "web"),
    ]
    page = apps.list_deployment_for_all_namespaces(limit=2)
    assert len(page.items) == 2
    assert page.metadata.remaining_item_count == 1
    rest = apps.list_deployment_for_all_namespaces(limit=2, _continue=page.metadata._continue)
    assert [d.metadata.name for d in rest.items] == ["web"]

    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("nope", NS)
    assert exc.value.status == 404
    assert status_of(exc) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }
    with pytest.raises(ApiException) as exc:
        apps.list_namespaced_deployment(NS, label_selector="app in (a")
    assert exc.value.status == 400


def test_create_validates_name_selector_and_containers_with_422(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(NS, deployment_body("Fraud_Scorer", "reg/fraud:1"))
    body = status_of(exc)
    assert (exc.value.status, body["reason"]) == (422, "Invalid")
    assert body["details"]["kind"] == "Deployment"
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.name"]

    mismatched = deployment_body("fraud", "reg/fraud:1", labels={"app": "other"})
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(NS, mismatched)
    body = status_of(exc)
    assert exc.value.status == 422
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"
    assert "`selector` does not match template `labels`" in body["message"]

    no_image = deployment_body("fraud", "")
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(NS, no_image)
    assert status_of(exc)["details"]["causes"][0]["field"] == (
        "spec.template.spec.containers[0].image"
    )
    assert apps.list_namespaced_deployment(NS).items == []

    created = apps.create_namespaced_deployment(NS, deployment_body("fraud", "reg/fraud:1"))
    assert created.metadata.uid
    assert created.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(NS, deployment_body("fraud", "reg/fraud:1"))
    assert (exc.value.status, status_of(exc)["reason"]) == (409, "AlreadyExists")


def test_creating_an_object_that_carries_a_resource_version_is_refused(
    kube: KubeApiFake, apps: client.AppsV1Api, api: ApiClient
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    copied = api.sanitize_for_serialization(apps.read_namespaced_deployment("fraud", NS))
    copied["metadata"]["name"] = "fraud-copy"
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(NS, copied)
    assert exc.value.status == 500
    assert status_of(exc)["message"] == "resourceVersion should not be set on objects to be created"


# -- patches, optimistic locking ----------------------------------------------------------------


def test_strategic_merge_patch_of_an_image_rolls_out_revision_2(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment_body("fraud", "reg/fraud:1"))
    first = kube.replicasets(NS, "fraud")
    kube.clear_requests()
    kube.set_clock(T0)  # what the server stamps from now on

    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "reg/fraud:2",
                            "env": [{"name": "B", "value": "2"}],
                        }
                    ]
                }
            }
        }
    }
    apps.patch_namespaced_deployment("fraud", NS, patch)
    assert kube.requests == [
        (
            "PATCH",
            f"/apis/apps/v1/namespaces/{NS}/deployments/fraud",
            "application/strategic-merge-patch+json",
        )
    ]

    dep = apps.read_namespaced_deployment("fraud", NS)
    container = dep.spec.template.spec.containers[0]
    assert container.image == "reg/fraud:2"
    assert [e.name for e in container.env] == ["A", "B"]  # merged on the `name` key
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert dep.metadata.generation == 2
    assert dep.status.observed_generation == 2

    uid = dep.metadata.uid
    rss = apps.list_namespaced_replica_set(NS, label_selector="app=fraud")
    assert rss.kind == "ReplicaSetList"
    by_revision = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in rss.items
    }
    assert set(by_revision) == {"1", "2"}
    new, old = by_revision["2"], by_revision["1"]
    assert old.metadata.name == first[0]["metadata"]["name"]
    pod_hash = new.metadata.labels["pod-template-hash"]
    assert new.metadata.name == f"fraud-{pod_hash}"
    assert pod_hash != old.metadata.labels["pod-template-hash"]
    assert new.spec.selector.match_labels == {"app": "fraud", "pod-template-hash": pod_hash}
    ref = new.metadata.owner_references[0]
    assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("apps/v1", "Deployment", "fraud", uid)
    assert ref.controller is True
    assert ref.block_owner_deletion is True
    assert (new.spec.replicas, new.status.ready_replicas, old.spec.replicas) == (2, 2, 0)
    assert new.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "2"
    assert new.metadata.creation_timestamp == T0


def test_merge_patch_replaces_lists_where_strategic_merge_would_merge(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment_body("fraud", "reg/fraud:1"))
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "reg/fraud:2"}]}}}
    }
    apps.patch_namespaced_deployment(
        "fraud", NS, patch, _content_type="application/merge-patch+json"
    )
    container = apps.read_namespaced_deployment("fraud", NS).spec.template.spec.containers[0]
    assert container.image == "reg/fraud:2"
    assert container.env is None
    merge_delete = {
        "metadata": {"labels": {"team": "risk"}},
        "spec": {"revisionHistoryLimit": None},
    }
    apps.patch_namespaced_deployment(
        "fraud", NS, merge_delete, _content_type="application/merge-patch+json"
    )
    dep = apps.read_namespaced_deployment("fraud", NS)
    assert dep.metadata.labels == {"team": "risk"}
    assert dep.spec.revision_history_limit == 10  # deleted, then defaulted again


def test_json_patch_with_a_failing_test_op_is_422_and_changes_nothing(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=3)
    before = kube.deployment(NS, "fraud")
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 5},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "reg/fraud:2"},
    ]
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, ops)
    assert (exc.value.status, status_of(exc)["reason"]) == (422, "Invalid")
    assert kube.requests[-1][2] == "application/json-patch+json"
    assert kube.deployment(NS, "fraud") == before
    assert len(kube.replicasets(NS, "fraud")) == 1

    ops[0]["value"] = 3
    apps.patch_namespaced_deployment("fraud", NS, ops)
    assert (
        kube.deployment(NS, "fraud")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "reg/fraud:2"
    )
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, [{"op": "remove", "path": "/spec/nope"}])
    assert exc.value.status == 422


def test_stale_resource_version_is_409_for_replace_and_patch_and_changes_nothing(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    seen = apps.read_namespaced_deployment("fraud", NS)
    kube.roll(NS, "fraud", "reg/fraud:2")  # someone else deployed meanwhile
    after_roll = kube.deployment(NS, "fraud")

    seen.spec.replicas = 7
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("fraud", NS, seen)
    body = status_of(exc)
    assert (exc.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on deployments.apps "fraud": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    stale_patch = {
        "metadata": {"resourceVersion": seen.metadata.resource_version},
        "spec": {"replicas": 7},
    }
    for content_type in ("application/strategic-merge-patch+json", "application/merge-patch+json"):
        with pytest.raises(ApiException) as exc:
            apps.patch_namespaced_deployment("fraud", NS, stale_patch, _content_type=content_type)
        assert exc.value.status == 409
    ops = [
        {
            "op": "replace",
            "path": "/metadata/resourceVersion",
            "value": seen.metadata.resource_version,
        },
        {"op": "replace", "path": "/spec/replicas", "value": 7},
    ]
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, ops)
    assert exc.value.status == 409
    assert kube.deployment(NS, "fraud") == after_roll

    fresh = {
        "metadata": {"resourceVersion": after_roll["metadata"]["resourceVersion"]},
        "spec": {"replicas": 7},
    }
    apps.patch_namespaced_deployment("fraud", NS, fresh)
    assert kube.deployment(NS, "fraud")["spec"]["replicas"] == 7


def test_unchanged_patch_writes_nothing_and_dry_run_stores_nothing(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=3)
    before = kube.deployment(NS, "fraud")
    same = apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 3}})
    assert same.metadata.resource_version == before["metadata"]["resourceVersion"]
    dry = apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 9}}, dry_run="All")
    assert dry.spec.replicas == 9
    assert kube.deployment(NS, "fraud") == before
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 9}}, dry_run="Yes")
    assert exc.value.status == 400


def test_rollback_recipe_reuses_the_old_replicaset_with_revision_max_plus_one(
    kube: KubeApiFake, apps: client.AppsV1Api, api: ApiClient
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", change_cause="deploy 1", at=T0)
    kube.roll(NS, "fraud", "reg/fraud:2", change_cause="deploy 2", at=T0 + timedelta(hours=1))
    kube.roll(NS, "fraud", "reg/fraud:3", change_cause="deploy 3", at=T0 + timedelta(hours=2))
    names = [n for n, _, _ in owned(kube, "fraud")]

    # kubectl rollout undo --to-revision=1, client side:
    dep = apps.read_namespaced_deployment("fraud", NS)
    selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
    rss = apps.list_namespaced_replica_set(NS, label_selector=selector).items
    target = next(
        rs for rs in rss if rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    )
    template = api.sanitize_for_serialization(target.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = {
        k: v for k, v in target.metadata.annotations.items() if k not in SKIP_ANNOTATIONS
    }
    apps.patch_namespaced_deployment(
        "fraud",
        NS,
        [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ],
    )

    assert [n for n, _, _ in owned(kube, "fraud")] == [names[1], names[2], names[0]]
    assert [(r, n) for _, r, n in owned(kube, "fraud")] == [("2", 0), ("3", 0), ("4", 3)]
    reused = kube.replicasets(NS, "fraud")[-1]["metadata"]
    assert reused["name"] == target.metadata.name
    assert reused["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert reused["annotations"]["kubernetes.io/change-cause"] == "deploy 1"
    assert reused["creationTimestamp"] == "2025-03-01T09:00:00Z"
    after = apps.read_namespaced_deployment("fraud", NS)
    assert after.metadata.annotations == {
        "kubernetes.io/change-cause": "deploy 1",
        "deployment.kubernetes.io/revision": "4",
    }
    assert after.spec.template.spec.containers[0].image == "reg/fraud:1"
    assert after.status.updated_replicas == 3


def test_revision_history_limit_deletes_the_oldest_replicasets(kube: KubeApiFake) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    for i in range(2, 15):
        kube.roll(NS, "fraud", f"reg/fraud:{i}")
    assert [r for _, r, _ in owned(kube, "fraud")] == [str(i) for i in range(4, 15)]


def test_paused_deployment_rolls_out_nothing_until_resumed(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    apps.patch_namespaced_deployment("fraud", NS, {"spec": {"paused": True}})
    kube.roll(NS, "fraud", "reg/fraud:2")
    assert [r for _, r, _ in owned(kube, "fraud")] == ["1"]
    progressing = kube.deployment(NS, "fraud")["status"]["conditions"][1]
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    apps.patch_namespaced_deployment("fraud", NS, {"spec": {"paused": None}})
    assert [(r, n) for _, r, n in owned(kube, "fraud")] == [("1", 0), ("2", 3)]


def test_selector_is_immutable_and_name_must_match_the_url(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    patch = {
        "spec": {
            "selector": {"matchLabels": {"app": "fraud", "v": "2"}},
            "template": {"metadata": {"labels": {"v": "2"}}},
        }
    }
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, patch)
    assert exc.value.status == 422
    assert "field is immutable" in status_of(exc)["message"]
    renamed = kube.deployment(NS, "fraud")
    renamed["metadata"]["name"] = "other"
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("fraud", NS, renamed)
    assert (exc.value.status, status_of(exc)["reason"]) == (400, "BadRequest")


# -- scale --------------------------------------------------------------------------------------


def test_scale_subresource_reads_patches_and_refuses_a_stale_resource_version(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=3)
    scale = apps.read_namespaced_deployment_scale("fraud", NS)
    assert isinstance(scale, client.V1Scale)
    assert (scale.api_version, scale.kind) == ("autoscaling/v1", "Scale")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (
        3,
        3,
        "app=fraud",
    )
    assert (
        scale.metadata.resource_version
        == kube.deployment(NS, "fraud")["metadata"]["resourceVersion"]
    )

    patched = apps.patch_namespaced_deployment_scale("fraud", NS, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    dep = kube.deployment(NS, "fraud")
    assert (
        dep["spec"]["replicas"],
        dep["metadata"]["generation"],
        dep["status"]["availableReplicas"],
    ) == (5, 2, 5)
    assert [(r, n) for _, r, n in owned(kube, "fraud")] == [("1", 5)]  # no new revision

    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment_scale("fraud", NS, scale)  # read before the patch
    assert (exc.value.status, status_of(exc)["reason"]) == (409, "Conflict")
    assert kube.deployment(NS, "fraud")["spec"]["replicas"] == 5

    current = apps.read_namespaced_deployment_scale("fraud", NS)
    current.spec.replicas = 2
    assert apps.replace_namespaced_deployment_scale("fraud", NS, current).spec.replicas == 2
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment_scale(
            "fraud", NS, [{"op": "replace", "path": "/spec/replicas", "value": -1}]
        )
    assert exc.value.status == 422
    assert status_of(exc)["message"].startswith(
        'Scale.autoscaling "fraud" is invalid: spec.replicas'
    )


# -- HPA, Jobs, CronJobs ------------------------------------------------------------------------


def test_hpa_create_defaults_and_the_three_patch_types(kube: KubeApiFake, api: ApiClient) -> None:
    hpas = client.AutoscalingV2Api(api)
    body = client.V2HorizontalPodAutoscaler(
        api_version="autoscaling/v2",
        kind="HorizontalPodAutoscaler",
        metadata=client.V1ObjectMeta(name="fraud"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="fraud"
            ),
            max_replicas=6,
        ),
    )
    created = hpas.create_namespaced_horizontal_pod_autoscaler(NS, body)
    assert isinstance(created, client.V2HorizontalPodAutoscaler)
    assert created.spec.min_replicas == 1
    assert created.spec.metrics[0].resource.target.average_utilization == 80
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "fraud", NS, {"spec": {"maxReplicas": 10}}, _content_type="application/merge-patch+json"
    )
    hpas.patch_namespaced_horizontal_pod_autoscaler("fraud", NS, {"spec": {"minReplicas": 2}})
    hpas.patch_namespaced_horizontal_pod_autoscaler(
        "fraud", NS, [{"op": "replace", "path": "/spec/maxReplicas", "value": 12}]
    )
    read = hpas.read_namespaced_horizontal_pod_autoscaler("fraud", NS)
    assert (read.spec.min_replicas, read.spec.max_replicas) == (2, 12)
    assert [h.metadata.name for h in hpas.list_namespaced_horizontal_pod_autoscaler(NS).items] == [
        "fraud"
    ]
    with pytest.raises(ApiException) as exc:
        hpas.patch_namespaced_horizontal_pod_autoscaler("fraud", NS, {"spec": {"maxReplicas": 1}})
    assert exc.value.status == 422
    assert status_of(exc)["details"]["causes"][0]["field"] == "spec.maxReplicas"


def job_body(name: str, restart: str = "Never") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"pipeline": "features"}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": restart,
                    "containers": [{"name": "run", "image": "reg/features:1"}],
                }
            }
        },
    }


def test_job_create_twice_is_409_already_exists_and_finishes_on_command(
    kube: KubeApiFake, batch: client.BatchV1Api
) -> None:
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_job(NS, job_body("rerun", restart="Always"))
    assert exc.value.status == 422
    assert status_of(exc)["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"

    created = batch.create_namespaced_job(NS, job_body("rerun"))
    assert isinstance(created, client.V1Job)
    uid = created.metadata.uid
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_job(NS, job_body("rerun"))
    body = status_of(exc)
    assert (exc.value.status, body["reason"], body["message"]) == (
        409,
        "AlreadyExists",
        'jobs.batch "rerun" already exists',
    )

    running = batch.read_namespaced_job("rerun", NS)
    assert running.status.active == 1
    assert running.status.start_time is not None
    assert running.spec.backoff_limit == 6
    kube.finish_job(NS, "rerun", succeeded=True)
    done = batch.read_namespaced_job("rerun", NS)
    assert done.status.succeeded == 1
    assert done.status.completion_time is not None
    assert [c.type for c in done.status.conditions] == ["SuccessCriteriaMet", "Complete"]

    batch.create_namespaced_job(NS, job_body("rerun-2"))
    kube.finish_job(NS, "rerun-2", succeeded=False)
    failed = batch.read_namespaced_job("rerun-2", NS)
    assert failed.status.conditions[-1].type == "Failed"
    assert failed.status.completion_time is None
    listed = batch.list_namespaced_job(NS, label_selector="pipeline=features")
    assert [j.metadata.name for j in listed.items] == ["rerun", "rerun-2"]

    with pytest.raises(ApiException) as exc:
        batch.delete_namespaced_job(
            "rerun",
            NS,
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-it")),
        )
    assert exc.value.status == 409
    gone = batch.delete_namespaced_job("rerun", NS, propagation_policy="Background")
    assert (gone["kind"], gone["status"], gone["details"]["uid"]) == ("Status", "Success", uid)
    assert [j["metadata"]["name"] for j in kube.jobs(NS)] == ["rerun-2"]


def test_a_job_gets_a_generated_selector_and_a_copied_one_is_refused(
    kube: KubeApiFake, batch: client.BatchV1Api, api: ApiClient
) -> None:
    created = batch.create_namespaced_job(NS, job_body("nightly"))
    uid = created.metadata.uid
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    labels = created.spec.template.metadata.labels
    assert labels["batch.kubernetes.io/job-name"] == "nightly"
    assert labels["controller-uid"] == uid
    assert created.metadata.labels == {"pipeline": "features"}  # defaulted from the template

    copied = api.sanitize_for_serialization(batch.read_namespaced_job("nightly", NS))
    copied["metadata"] = {"name": "nightly-rerun"}
    copied.pop("status")
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_job(NS, copied)
    assert exc.value.status == 422
    assert "`selector` not auto-generated" in status_of(exc)["message"]
    with pytest.raises(ApiException) as exc:
        batch.patch_namespaced_job(
            "nightly", NS, {"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}}
        )
    assert "field is immutable" in status_of(exc)["message"]


def test_jobs_can_complete_at_once(kube: KubeApiFake, batch: client.BatchV1Api) -> None:
    kube.auto_complete_jobs()
    batch.create_namespaced_job(NS, job_body("quick"))
    assert kube.job(NS, "quick")["status"]["succeeded"] == 1


def test_cronjob_create_and_a_job_from_its_job_template(
    kube: KubeApiFake, batch: client.BatchV1Api, api: ApiClient
) -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "features-nightly"},
        "spec": {
            "schedule": "not a schedule",
            "jobTemplate": {
                "metadata": {"labels": {"pipeline": "features"}},
                "spec": job_body("x")["spec"],
            },
        },
    }
    with pytest.raises(ApiException) as exc:
        batch.create_namespaced_cron_job(NS, cron)
    assert status_of(exc)["details"]["causes"][0]["field"] == "spec.schedule"
    cron["spec"]["schedule"] = "0 3 * * *"
    created = batch.create_namespaced_cron_job(NS, cron)
    assert isinstance(created, client.V1CronJob)
    assert created.spec.concurrency_policy == "Allow"
    batch.patch_namespaced_cron_job("features-nightly", NS, {"spec": {"suspend": True}})

    # kubectl create job rerun-1 --from=cronjob/features-nightly:
    source = batch.read_namespaced_cron_job("features-nightly", NS)
    assert source.spec.suspend is True
    template = api.sanitize_for_serialization(source.spec.job_template)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "rerun-1",
            "labels": template["metadata"]["labels"],
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": source.metadata.name,
                    "uid": source.metadata.uid,
                    "controller": True,
                }
            ],
        },
        "spec": template["spec"],
    }
    batch.create_namespaced_job(NS, job)
    listed = batch.list_namespaced_job(NS, label_selector="pipeline=features")
    assert [j.metadata.owner_references[0].name for j in listed.items] == ["features-nightly"]
    batch.delete_namespaced_cron_job("features-nightly", NS)
    assert kube.jobs(NS) == []  # the garbage collector takes the owned Job


# -- rollouts held, completed, failed -----------------------------------------------------------


def test_held_rollout_shows_progress_until_completed_or_failed(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=4)
    kube.hold_rollouts()
    kube.roll(NS, "fraud", "reg/fraud:2")
    dep = apps.read_namespaced_deployment("fraud", NS)
    # 4 replicas, maxSurge 1, maxUnavailable 1: where the controller settles when no new pod
    # gets ready: 3 old pods kept available, 2 new ones surging, none of them ready.
    assert dep.status.updated_replicas == 2 < dep.spec.replicas
    assert (dep.status.replicas, dep.status.ready_replicas, dep.status.available_replicas) == (
        5,
        3,
        3,
    )
    progressing = {c.type: c for c in dep.status.conditions}["Progressing"]
    assert (progressing.status, progressing.reason) == ("True", "ReplicaSetUpdated")
    assert [(r, n) for _, r, n in owned(kube, "fraud")] == [("1", 3), ("2", 2)]

    kube.complete_rollout(NS, "fraud")
    dep = apps.read_namespaced_deployment("fraud", NS)
    assert (dep.status.updated_replicas, dep.status.available_replicas) == (4, 4)
    conditions = {c.type: (c.status, c.reason) for c in dep.status.conditions}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }

    kube.roll(NS, "fraud", "reg/fraud:3")
    kube.fail_rollout(NS, "fraud")
    dep = apps.read_namespaced_deployment("fraud", NS)
    progressing = {c.type: c for c in dep.status.conditions}["Progressing"]
    assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
    assert "has timed out progressing" in progressing.message


def test_held_first_rollout_has_no_ready_pods(kube: KubeApiFake) -> None:
    kube.hold_rollouts()
    dep = kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=2)
    assert dep["status"]["updatedReplicas"] == 2
    assert "availableReplicas" not in dep["status"]
    assert dep["status"]["conditions"][0]["status"] == "False"


# -- deletes, protocol errors, RBAC, faults ----------------------------------------------------


def test_deleting_a_deployment_deletes_or_orphans_its_replicasets(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "a", "reg/a:1")
    kube.add_deployment(NS, "b", "reg/b:1")
    status = apps.delete_namespaced_deployment("a", NS)
    assert (status["status"], status["details"]["kind"]) == ("Success", "deployments")
    apps.delete_namespaced_deployment("b", NS, propagation_policy="Orphan")
    left = apps.list_namespaced_replica_set(NS).items
    assert [rs.metadata.labels["app"] for rs in left] == ["b"]
    assert left[0].metadata.owner_references is None

    # created again, the Deployment adopts the orphan and, same template, rolls out nothing new
    kube.add_deployment(NS, "b", "reg/b:1")
    assert owned(kube, "b") == [(left[0].metadata.name, "1", 3)]


def test_protocol_errors_415_405_404_with_status_bodies(kube: KubeApiFake) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    url = f"{kube.url}/apis/apps/v1/namespaces/{NS}/deployments"
    auth = {"Authorization": f"Bearer {kube.token}"}
    with httpx.Client(headers=auth, timeout=5) as http:
        for content_type in ("text/plain", None, "application/apply-patch+yaml"):
            headers = {"Content-Type": content_type} if content_type else {}
            r = http.patch(f"{url}/fraud", content=b"{}", headers=headers)
            assert (r.status_code, r.json()["reason"]) == (415, "UnsupportedMediaType")
        r = http.post(f"{url}/fraud", json={})
        assert (r.status_code, r.json()["reason"]) == (405, "MethodNotAllowed")
        r = http.get(f"{kube.url}/apis/apps/v1/namespaces/{NS}/statefulsets")
        assert r.status_code == 404
        assert r.json()["kind"] == "Status"
        r = http.patch(
            f"{url}/fraud", content=b"[1]", headers={"Content-Type": "application/json-patch+json"}
        )
        assert r.status_code == 400
        r = http.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()["reason"]) == (400, "BadRequest")


def test_denied_verbs_are_403_forbidden(kube: KubeApiFake, apps: client.AppsV1Api) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1")
    kube.deny("patch", "deployments/scale", NS)
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment_scale("fraud", NS, {"spec": {"replicas": 9}})
    body = status_of(exc)
    assert (exc.value.status, body["reason"]) == (403, "Forbidden")
    assert 'cannot patch resource "deployments/scale" in API group "apps"' in body["message"]
    apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 9}})  # not denied


def test_fail_next_answers_a_status_error_and_changes_nothing(
    kube: KubeApiFake, apps: client.AppsV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=3)
    kube.fail_next(1, status=503, method="PATCH")
    apps.read_namespaced_deployment("fraud", NS)  # a GET does not take the PATCH fault
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 9}})
    assert (exc.value.status, status_of(exc)["reason"]) == (503, "ServiceUnavailable")
    assert kube.deployment(NS, "fraud")["spec"]["replicas"] == 3
    apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 9}})
    assert kube.deployment(NS, "fraud")["spec"]["replicas"] == 9
    kube.fail_next(2)
    for _ in range(2):
        with pytest.raises(ApiException) as exc:
            apps.read_namespaced_deployment("fraud", NS)
        assert exc.value.status == 500
    apps.read_namespaced_deployment("fraud", NS)


def test_delay_next_answers_late_but_the_write_lands(kube: KubeApiFake, kubeconfig: Path) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=3)
    configuration = Configuration()
    config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration, persist_config=False
    )
    configuration.retries = False  # see the first timeout, not urllib3's retry
    with ApiClient(configuration) as api:
        apps = client.AppsV1Api(api)
        kube.delay_next(3.0)
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            apps.patch_namespaced_deployment(
                "fraud", NS, {"spec": {"replicas": 4}}, _request_timeout=0.3
            )
        assert time.monotonic() - started < 2.0
        assert kube.deployment(NS, "fraud")["spec"]["replicas"] == 4
        started = time.monotonic()
        apps.read_namespaced_deployment("fraud", NS, _request_timeout=2)
        assert time.monotonic() - started < 1.0


# -- core/v1: pods, their logs, events ------------------------------------------------------------


@pytest.fixture
def core(api: ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def test_pods_list_by_label_and_field_selector_and_a_missing_pod_is_404(
    kube: KubeApiFake, core: client.CoreV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", at=T0)
    kube.add_deployment(NS, "other", "reg/other:1", at=T0)
    ok = kube.add_pod(NS, "fraud", pods.running(pods.container("fraud")), node="node-1")
    pending = kube.add_pod(NS, "fraud", pods.unschedulable(since=T0))
    kube.add_pod(NS, "other", pods.running(pods.container("other")))
    [rs] = kube.replicasets(NS, "fraud")
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]

    listed = core.list_namespaced_pod(NS, label_selector=f"pod-template-hash in ({pod_hash},x)")
    assert sorted(p.metadata.name for p in listed.items) == sorted(
        [ok["metadata"]["name"], pending["metadata"]["name"]]
    )
    assert all(p.metadata.name.startswith(f"{rs['metadata']['name']}-") for p in listed.items)
    owner = listed.items[0].metadata.owner_references[0]
    assert (owner.kind, owner.uid, owner.controller) == ("ReplicaSet", rs["metadata"]["uid"], True)
    phases = core.list_namespaced_pod(NS, field_selector="status.phase=Pending").items
    assert [p.metadata.name for p in phases] == [pending["metadata"]["name"]]
    [on_node] = core.list_namespaced_pod(NS, field_selector="spec.nodeName=node-1").items
    assert on_node.spec.node_name == "node-1"
    assert on_node.status.container_statuses[0].state.running is not None

    read = core.read_namespaced_pod(pending["metadata"]["name"], NS)
    condition = read.status.conditions[0]
    assert (condition.type, condition.status, condition.reason) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert read.spec.restart_policy == "Always"  # defaulted, as on a cluster
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("fraud-gone", NS)
    assert (exc.value.status, status_of(exc)["message"]) == (404, 'pods "fraud-gone" not found')
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod(NS, field_selector="spec.image=x")
    assert (exc.value.status, status_of(exc)["message"]) == (
        400,
        "field label not supported: spec.image",
    )
    with pytest.raises(ApiException) as exc:  # read-only here: tests seed pods
        core.delete_namespaced_pod(ok["metadata"]["name"], NS)
    assert exc.value.status == 405


def test_events_list_with_field_selectors_in_both_shapes(
    kube: KubeApiFake, core: client.CoreV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", at=T0)
    pod = kube.add_pod(NS, "fraud", pods.running(pods.container("fraud")))
    name = pod["metadata"]["name"]
    kube.add_event(
        pod,
        "BackOff",
        f"Back-off restarting failed container fraud in pod {name}_{NS}(uid)",
        count=7,
        first=T0,
        last=T0 + timedelta(minutes=4),
        container="fraud",
    )
    kube.add_event(pod, "Pulled", "Container image already present", type="Normal", last=T0)
    kube.add_event(
        pod,
        "FailedScheduling",
        pods.GPU_MESSAGE,
        count=3,
        first=T0,
        last=T0 + timedelta(minutes=2),
        component="default-scheduler",
        series=True,
    )

    warnings = core.list_namespaced_event(NS, field_selector="type=Warning").items
    assert sorted(e.reason for e in warnings) == ["BackOff", "FailedScheduling"]
    [backoff] = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={name},reason=BackOff"
    ).items
    assert backoff.count == 7
    assert backoff.last_timestamp == T0 + timedelta(minutes=4)
    assert backoff.involved_object.field_path == "spec.containers{fraud}"
    assert backoff.involved_object.uid == pod["metadata"]["uid"]
    assert backoff.metadata.name.startswith(f"{name}.")
    # The scheduler's events.k8s.io shape, as core/v1 shows it: no count, no timestamps.
    raw = kube.get("events", NS, next(e.metadata.name for e in warnings if e.series))
    assert raw is not None
    assert (raw["firstTimestamp"], raw["lastTimestamp"], "count" in raw) == (None, None, False)
    assert raw["series"] == {"count": 3, "lastObservedTime": "2025-03-01T09:02:00.000000Z"}
    assert raw["eventTime"] == "2025-03-01T09:00:00.000000Z"
    scheduler = "reportingComponent=default-scheduler"
    assert [e.reason for e in core.list_namespaced_event(NS, field_selector=scheduler).items] == [
        "FailedScheduling"
    ]
    kubelet = core.list_namespaced_event(NS, field_selector="source=kubelet,type!=Normal").items
    assert [e.reason for e in kubelet] == ["BackOff"]  # source: the legacy source.component
    page = core.list_namespaced_event(NS, limit=2)
    assert len(page.items) == 2
    assert page.metadata._continue
    rest = core.list_namespaced_event(NS, limit=2, _continue=page.metadata._continue)
    assert len(rest.items) == 1
    assert not rest.metadata._continue


def test_pod_log_is_text_plain_tailed_then_limited_and_errors_as_the_api_server_words_them(
    kube: KubeApiFake, core: client.CoreV1Api
) -> None:
    kube.add_deployment(NS, "fraud", "reg/fraud:1", at=T0)
    crashed = pods.container(
        "fraud",
        state=pods.crash_loop("fraud", "p"),
        last=pods.terminated("OOMKilled", 137, T0),
        restarts=2,
        ready=False,
    )
    pod = kube.add_pod(NS, "fraud", pods.running(crashed))
    name = pod["metadata"]["name"]
    kube.set_log(NS, name, "fraud", "loading model\nallocating 12 GiB\nKilled\n", previous=True)

    text = core.read_namespaced_pod_log(name, NS, container="fraud", previous=True, tail_lines=2)
    assert text == "allocating 12 GiB\nKilled\n"
    text = core.read_namespaced_pod_log(
        name, NS, container="fraud", previous=True, tail_lines=2, limit_bytes=5
    )
    assert text == "alloc"  # the first bytes of the tail
    url = f"{kube.url}/api/v1/namespaces/{NS}/pods/{name}/log"
    auth = {"Authorization": f"Bearer {kube.token}"}
    with httpx.Client(headers=auth, timeout=5) as http:
        r = http.get(url, params={"previous": "true", "tailLines": "1"})
        assert (r.status_code, r.headers["content-type"], r.text) == (200, "text/plain", "Killed\n")
        r = http.get(url, params={"tailLines": "-1"})
        assert (r.status_code, r.json()["reason"]) == (422, "Invalid")
        assert r.json()["message"].startswith(f'PodLogOptions "{name}" is invalid: tailLines')
        r = http.post(url)
        assert r.status_code == 405
    assert core.read_namespaced_pod_log(name, NS) == ""  # one container: it need not be named

    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log(name, NS, container="sidecar")
    assert (exc.value.status, status_of(exc)["message"]) == (
        400,
        f"container sidecar is not valid for pod {name}",
    )
    fresh = kube.add_pod(NS, "fraud", pods.running(pods.container("fraud")))["metadata"]["name"]
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log(fresh, NS, container="fraud", previous=True)
    assert (exc.value.status, status_of(exc)["reason"], status_of(exc)["message"]) == (
        400,
        "BadRequest",
        f'previous terminated container "fraud" in pod "{fresh}" not found',
    )
    waiting = kube.add_pod(NS, "fraud", pods.image_pull_backoff("fraud", since=T0))
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log(waiting["metadata"]["name"], NS)
    assert status_of(exc)["message"].endswith("is waiting to start: ImagePullBackOff")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("fraud-gone", NS, previous=True)
    assert (exc.value.status, status_of(exc)["message"]) == (404, 'pods "fraud-gone" not found')
