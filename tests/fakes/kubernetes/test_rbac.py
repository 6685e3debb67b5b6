"""The fake's RBAC enforcement, proved through the official ``kubernetes`` client: requests map to
verbs as the API server maps them, and what no rule allows is a 403 ``Status``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.kubernetes.conftest import NS
from tests.fakes.kubernetes.rbac import Grants, Permission, Rule, attributes, without
from tests.support import pods

OTHER = "elsewhere"
APPS, BATCH = "/apis/apps/v1/namespaces/ml", "/apis/batch/v1/namespaces/ml"
SCALE_ONLY = (
    Rule(("apps",), ("deployments",), ("get",)),
    Rule(("apps",), ("deployments/scale",), ("get", "patch")),
)


@pytest.fixture
def kube_grants() -> Grants:
    return Grants({NS: SCALE_ONLY})


@pytest.fixture
def kube(kube: KubeApiFake) -> KubeApiFake:
    """conftest's fake under ``SCALE_ONLY``, with a Deployment ``fraud`` here and elsewhere."""
    kube.add_deployment(NS, "fraud", "reg/fraud:1", replicas=2)
    kube.add_deployment(OTHER, "fraud", "reg/fraud:1", replicas=2)
    return kube


def forbidden(exc: pytest.ExceptionInfo[ApiException]) -> str:
    body: dict[str, Any] = json.loads(exc.value.body or "{}")
    assert (exc.value.status, body["kind"], body["reason"], body["code"]) == (
        403,
        "Status",
        "Forbidden",
        403,
    )
    return str(body["message"])


@pytest.mark.parametrize(
    ("method", "path", "query", "verb", "resource", "name"),
    [
        ("GET", f"{APPS}/deployments/x", {}, "get", "deployments", "x"),
        ("GET", f"{APPS}/deployments", {}, "list", "deployments", ""),
        (
            "GET",
            f"{APPS}/deployments",
            {"watch": "true"},
            "watch",
            "deployments",
            "",
        ),
        ("GET", "/apis/apps/v1/watch/namespaces/ml/deployments", {}, "watch", "deployments", ""),
        ("POST", f"{BATCH}/jobs", {}, "create", "jobs", ""),
        (
            "PUT",
            f"{APPS}/deployments/x/scale",
            {},
            "update",
            "deployments",
            "x",
        ),
        (
            "PATCH",
            f"{APPS}/deployments/x/scale",
            {},
            "patch",
            "deployments",
            "x",
        ),
        ("DELETE", f"{BATCH}/jobs/j", {}, "delete", "jobs", "j"),
        ("DELETE", f"{BATCH}/jobs", {}, "deletecollection", "jobs", ""),
        ("GET", "/api/v1/namespaces/ml/pods/p/log", {}, "get", "pods", "p"),
    ],
)
def test_requests_map_to_the_verbs_the_api_server_authorizes(
    method: str, path: str, query: dict[str, str], verb: str, resource: str, name: str
) -> None:
    a = attributes(method, path, query)
    assert a is not None
    assert (a.verb, a.name) == (verb, name)
    assert a.namespace == "ml"
    assert a.resource == resource
    assert attributes("GET", "/version", {}) is None


def test_a_granted_verb_passes_and_the_response_is_the_real_one(api: ApiClient) -> None:
    apps = client.AppsV1Api(api)
    assert apps.read_namespaced_deployment("fraud", NS).spec.replicas == 2
    apps.patch_namespaced_deployment_scale("fraud", NS, {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment_scale("fraud", NS).spec.replicas == 3


def test_a_verb_no_rule_grants_is_forbidden_and_changes_nothing(
    kube: KubeApiFake, api: ApiClient
) -> None:
    apps = client.AppsV1Api(api)
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud", NS, {"spec": {"replicas": 9}})
    assert forbidden(exc) == (
        'deployments.apps "fraud" is forbidden: User "system:serviceaccount:opsbot:opsbot" '
        'cannot patch resource "deployments" in API group "apps" in the namespace "ml"'
    )
    assert kube.deployment(NS, "fraud")["spec"]["replicas"] == 2
    assert kube.forbidden_requests == ["patch deployments.apps in ml"]


def test_a_list_is_not_a_get_and_a_watch_is_not_a_list(api: ApiClient, kube: KubeApiFake) -> None:
    apps = client.AppsV1Api(api)
    with pytest.raises(ApiException) as exc:
        apps.list_namespaced_deployment(NS)
    assert 'cannot list resource "deployments"' in forbidden(exc)
    kube.enforce(Grants({NS: (Rule(("apps",), ("deployments",), ("list",)),)}))
    apps.list_namespaced_deployment(NS)
    token = f"Bearer {kube.token}"
    r = httpx.get(
        f"{kube.url}/apis/apps/v1/namespaces/{NS}/deployments",
        params={"watch": "true"},
        headers={"Authorization": token},
    )
    assert r.status_code == 403
    assert 'cannot watch resource "deployments"' in r.json()["message"]


def test_a_role_holds_in_its_namespace_only_and_never_cluster_wide(api: ApiClient) -> None:
    apps = client.AppsV1Api(api)
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("fraud", OTHER)
    assert 'in the namespace "elsewhere"' in forbidden(exc)
    with pytest.raises(ApiException) as exc:
        apps.list_deployment_for_all_namespaces()
    assert "at the cluster scope" in forbidden(exc)


def test_a_cluster_rule_holds_in_every_namespace(kube: KubeApiFake, api: ApiClient) -> None:
    kube.enforce(Grants(cluster=(Rule(("apps",), ("deployments",), ("get", "list")),)))
    apps = client.AppsV1Api(api)
    apps.read_namespaced_deployment("fraud", OTHER)
    assert len(apps.list_deployment_for_all_namespaces().items) == 2


def test_the_subresource_is_a_resource_of_its_own(kube: KubeApiFake, api: ApiClient) -> None:
    kube.enforce(Grants({NS: (Rule(("apps",), ("deployments",), ("get", "patch")),)}))
    apps = client.AppsV1Api(api)
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment_scale("fraud", NS)
    assert 'cannot get resource "deployments/scale" in API group "apps"' in forbidden(exc)


def test_a_path_the_fake_does_not_serve_is_still_authorized_first(api: ApiClient) -> None:
    with pytest.raises(ApiException) as exc:
        client.CoreV1Api(api).list_namespaced_config_map(NS)
    assert 'cannot list resource "configmaps" in API group ""' in forbidden(exc)


def test_reading_a_pods_log_needs_get_on_pods_log_not_on_pods(
    kube: KubeApiFake, api: ApiClient
) -> None:
    core = client.CoreV1Api(api)
    kube.enforce(Grants({NS: (Rule(("",), ("pods",), ("get", "list")),)}))
    pod = kube.add_pod(NS, "fraud", pods.running(pods.container("fraud")))["metadata"]["name"]
    core.read_namespaced_pod(pod, NS)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log(pod, NS)
    assert forbidden(exc) == (
        f'pods "{pod}" is forbidden: User "system:serviceaccount:opsbot:opsbot" cannot get '
        'resource "pods/log" in API group "" in the namespace "ml"'
    )
    assert kube.forbidden_requests == ["get pods/log. in ml"]
    kube.enforce(Grants({NS: (Rule(("",), ("pods/log",), ("get",)),)}))
    assert core.read_namespaced_pod_log(pod, NS) == ""


def test_wildcards_and_resource_names_match_as_in_rbac() -> None:
    get_scale = attributes("GET", f"{APPS}/deployments/x/scale", {})
    list_deps = attributes("GET", f"{APPS}/deployments", {})
    assert get_scale is not None
    assert list_deps is not None
    assert Rule(("*",), ("*",), ("*",)).allows(get_scale)
    assert Rule(("apps",), ("*/scale",), ("get",)).allows(get_scale)
    assert not Rule(("apps",), ("deployments",), ("get",)).allows(get_scale)
    assert Rule(("apps",), ("deployments/scale",), ("get",), ("x",)).allows(get_scale)
    assert not Rule(("apps",), ("deployments/scale",), ("get",), ("y",)).allows(get_scale)
    assert not Rule(("apps",), ("deployments",), ("list",), ("x",)).allows(list_deps)


def test_without_takes_exactly_one_permission_away() -> None:
    rules = [Rule(("apps",), ("deployments", "deployments/scale"), ("get", "patch"))]
    removed = Permission.parse("patch:deployments/scale.apps")
    left = without(rules, removed)
    granted = set().union(*(r.permissions() for r in left))
    assert granted == rules[0].permissions() - {removed}
    assert str(removed) == "patch:deployments/scale.apps"
    assert Permission.parse("get:pods") == Permission("", "pods", "get")
