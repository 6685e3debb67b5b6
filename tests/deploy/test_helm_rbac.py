"""The chart's RBAC: one Role and RoleBinding per listed namespace and none elsewhere, exactly the
verbs opsbot's Kubernetes adapter uses, and a ClusterRole only when a value asks for one."""

from __future__ import annotations

from tests.deploy.helm_tools import Manifest, of_kind, one, render, render_ci
from tests.fakes.kubernetes.rbac import Permission
from tests.support.chart_role import granted, rendered_chart

# bot/clients/kubernetes.py, kubernetes_pods.py and kubernetes_custom.py, method by method: what
# the actions and the enrichment call.
USED_BY_OPSBOT = {
    Permission("apps", "deployments", "get"),  # read_deployment, rollout_history/_status
    Permission("apps", "deployments", "patch"),  # rollback (JSON patch), restart
    Permission("apps", "deployments/scale", "get"),  # read_scale
    Permission("apps", "deployments/scale", "patch"),  # patch_scale
    Permission("apps", "replicasets", "list"),  # rollout history, rollback target
    Permission("", "pods", "list"),  # deployment_pods (the workload enrichment)
    Permission("", "pods/log", "get"),  # previous_log
    Permission("", "events", "list"),  # warning_events
    Permission("autoscaling", "horizontalpodautoscalers", "list"),  # find_hpa
    Permission("autoscaling", "horizontalpodautoscalers", "patch"),  # patch_hpa
    Permission("batch", "cronjobs", "get"),  # read_cronjob
    Permission("batch", "jobs", "create"),  # create_job
    Permission("batch", "jobs", "get"),  # read_job
    Permission("serving.kserve.io", "inferenceservices", "get"),  # read_inferenceservice
    Permission("serving.kserve.io", "inferenceservices", "patch"),  # canary_traffic
    Permission("argoproj.io", "rollouts", "get"),  # read_rollout
    Permission("argoproj.io", "rollouts", "patch"),  # undo (JSON patch), promote (spec.paused)
    Permission("argoproj.io", "rollouts/status", "patch"),  # abort, promote
}


def placed(objects: list[Manifest] | tuple[Manifest, ...], kind: str) -> list[str]:
    return sorted(o["metadata"].get("namespace", "") for o in of_kind(objects, kind))


def test_one_role_and_binding_per_listed_namespace_and_none_elsewhere() -> None:
    objects = render_ci("http-full")
    listed = sorted(["ml-serving", "ml-batch", "ml-research"])
    assert placed(objects, "Role") == listed
    assert placed(objects, "RoleBinding") == listed
    assert of_kind(objects, "ClusterRole") == []
    assert of_kind(objects, "ClusterRoleBinding") == []


def test_bindings_name_the_bots_service_account_in_the_release_namespace() -> None:
    objects = render_ci("postgresql")
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account
    for binding in of_kind(objects, "RoleBinding"):
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "opsbot",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": "opsbot"}
        ]


def test_without_a_list_the_catalogs_policy_namespaces_get_the_roles() -> None:
    assert placed(render_ci("postgresql"), "Role") == ["ml-batch", "ml-serving"]
    assert placed(rendered_chart(), "Role") == ["ml-batch", "ml-serving"]  # examples/services.yaml


def test_no_namespace_listed_means_no_role_at_all() -> None:
    objects = render()
    assert of_kind(objects, "Role") == []
    assert of_kind(objects, "RoleBinding") == []
    assert of_kind(objects, "ClusterRole") == []


def test_the_role_holds_exactly_what_opsbot_uses() -> None:
    objects = render_ci("postgresql")
    assert granted(objects) == USED_BY_OPSBOT
    for role in of_kind(objects, "Role"):
        for rule in role["rules"]:
            assert set(rule) == {"apiGroups", "resources", "verbs"}  # no wildcards, no names
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]


def test_a_cluster_role_only_when_asked_with_the_same_rules() -> None:
    objects = render(sets=["rbac.clusterWide=true", "rbac.namespaces={ml-serving}"])
    assert of_kind(objects, "Role") == []
    assert of_kind(objects, "RoleBinding") == []
    cluster_role = one(objects, "ClusterRole")
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["kind"] == "ClusterRole"
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    assert granted(objects) == USED_BY_OPSBOT


def test_rbac_create_false_renders_no_rbac() -> None:
    objects = render_ci("postgresql")
    assert of_kind(objects, "Role")
    off = render(sets=["rbac.create=false", "rbac.namespaces={ml-serving}"])
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert of_kind(off, kind) == []
