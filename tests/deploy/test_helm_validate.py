"""Every object the chart renders, validated offline against the Kubernetes API schemas
(``kubernetes-validate``, strict: unknown fields are errors). The Prometheus Operator's
ServiceMonitor and PrometheusRule are CRDs, not in those schemas: they are checked here against
the fields of monitoring.coreos.com/v1 that the chart uses, and against the Service and the rules
file they must match."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.helm_tools import (
    CHART,
    Manifest,
    helm,
    of_kind,
    one,
    render,
    render_ci,
    template_args,
)

KUBERNETES_VERSION = "1.33.0"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"}
VALUES_SETS = ["postgresql", "sqlite", "socket-mode", "http-full"]


def validate(obj: Manifest) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", VALUES_SETS)
def test_every_core_object_is_valid_for_kubernetes(name: str) -> None:
    objects = render_ci(name)
    core = [o for o in objects if o["kind"] not in CRD_KINDS]
    assert len(core) >= 6
    for obj in core:
        validate(obj)


def test_cluster_wide_rbac_is_valid_for_kubernetes() -> None:
    for obj in render(sets=["rbac.clusterWide=true"]):
        validate(obj)


def test_the_validator_rejects_what_the_api_server_would() -> None:
    deployment = dict(one(render_ci("postgresql"), "Deployment"))
    broken: dict[str, Any] = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_the_service_monitor_scrapes_the_service_port_with_the_release_label() -> None:
    objects = render_ci("http-full")
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(monitor["spec"]) == {"jobLabel", "selector", "namespaceSelector", "endpoints"}
    service = one(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert monitor["spec"]["jobLabel"] in service["metadata"]["labels"]
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "opsbot"  # job="opsbot"
    [endpoint] = monitor["spec"]["endpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_the_release_label_follows_the_values() -> None:
    sets = ["monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true"]
    objects = render(sets=[*sets, "monitoring.release=prom"])
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert one(objects, kind)["metadata"]["labels"]["release"] == "prom"
    objects = render(sets=[*sets, "monitoring.release="])
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert "release" not in one(objects, kind)["metadata"]["labels"]


def test_the_prometheus_rule_carries_the_groups_of_the_rules_file() -> None:
    rule = one(render_ci("http-full"), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(rule["spec"]) == {"groups"}
    expected = yaml.safe_load((CHART / "files" / "opsbot-rules.yml").read_text())["groups"]
    assert rule["spec"]["groups"] == expected
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "partial_response_strategy", "limit"}
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r)
            assert isinstance(r["expr"], str)
            assert r["expr"]


def test_monitoring_objects_are_off_by_default() -> None:
    objects = render_ci("postgresql")
    for kind in (*CRD_KINDS, "NetworkPolicy", "Ingress"):
        assert of_kind(objects, kind) == []


def test_opsbots_own_alerts_are_routed_to_its_operators_not_to_opsbot() -> None:
    config = one(render_ci("http-full"), "AlertmanagerConfig")
    assert config["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    route = config["spec"]["route"]
    assert route["matchers"] == [{"name": "service", "value": "opsbot", "matchType": "="}]
    [receiver] = config["spec"]["receivers"]
    assert route["receiver"] == receiver["name"] == "opsbot-operators"
    assert set(receiver) == {"name", "pagerdutyConfigs", "emailConfigs"}  # no webhook to opsbot
    [pagerduty] = receiver["pagerdutyConfigs"]
    assert pagerduty["routingKey"] == {"name": "opsbot-operators-pagerduty", "key": "routing-key"}
    [email] = receiver["emailConfigs"]
    assert email["to"] == "opsbot-operators@example.com"
    # The route catches every alert the chart's PrometheusRule can fire.
    rules = yaml.safe_load((CHART / "files" / "opsbot-rules.yml").read_text())["groups"]
    alerts = [r for g in rules for r in g["rules"] if "alert" in r]
    assert alerts
    assert all(r["labels"]["service"] == "opsbot" for r in alerts)
    # Alertmanager's template in the severity survives Helm's templating.
    assert pagerduty["severity"].startswith("{{ if eq .CommonLabels.severity")


def test_operators_alerts_without_a_receiver_fail_with_a_reason() -> None:
    result = helm(*template_args(sets=["monitoring.operatorsAlerts.enabled=true"]), check=False)
    assert result.returncode != 0
    assert "need a receiver that is not opsbot" in result.stderr
    email_only = render(
        sets=[
            "monitoring.operatorsAlerts.enabled=true",
            "monitoring.operatorsAlerts.email.to=a@b.c",
        ]
    )
    [receiver] = one(email_only, "AlertmanagerConfig")["spec"]["receivers"]
    assert set(receiver) == {"name", "emailConfigs"}
