"""The Kubernetes adapter's pod reads (bot/clients/kubernetes_pods.py) against the API server
fake, through the official client: a Deployment's pods, the namespace's Warning events, a
container's previous log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clients import kubernetes_pods
from bot.clients.kubernetes import KubeClient
from bot.errors import ExternalServiceError
from tests.fakes.kubernetes.api import KubeApiFake
from tests.support import pods

NS = "ml"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def kube_grants() -> None:
    """The adapter is tested on the API, not on the chart's Role: the fake allows everything."""
    return None


@pytest.fixture
def kc(kubeconfig: Path) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(kubeconfig, timeout_s=2.0) as adapter:
        yield adapter


def test_deployment_pods_are_those_its_replicasets_control(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud-scorer:1.0", at=T0)
    old = kube.add_pod(NS, "fraud-scorer", pods.running(pods.container("fraud-scorer")))
    kube.roll(NS, "fraud-scorer", "reg/fraud-scorer:1.1", at=T0 + timedelta(hours=1))
    new = kube.add_pod(NS, "fraud-scorer", pods.unschedulable(since=T0))
    # Same labels, another owner: its pods match the selector but are not this Deployment's.
    kube.add_deployment(
        NS, "fraud-scorer-canary", "reg/fraud-scorer:1.0", labels={"app": "fraud-scorer"}, at=T0
    )
    kube.add_pod(NS, "fraud-scorer-canary", pods.running(pods.container("fraud-scorer")))

    found = kc.deployment_pods(NS, "fraud-scorer")

    assert found.deployment["metadata"]["name"] == "fraud-scorer"
    assert [rs["metadata"]["name"] for rs in found.replicasets] == [
        rs["metadata"]["name"] for rs in kube.replicasets(NS, "fraud-scorer")
    ]
    assert sorted(p["metadata"]["name"] for p in found.pods) == sorted(
        [old["metadata"]["name"], new["metadata"]["name"]]
    )
    assert found.pods[0]["status"]["phase"] in ("Running", "Pending")  # the API server's JSON
    assert not found.truncated
    with pytest.raises(ExternalServiceError) as exc:
        kc.deployment_pods(NS, "gone")
    assert exc.value.detail == "deployment ml/gone not found"


def test_warning_events_are_read_in_pages_up_to_a_bound(
    kube: KubeApiFake, kc: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud-scorer:1.0", at=T0)
    pod = kube.add_pod(NS, "fraud-scorer", pods.running(pods.container("fraud-scorer")))
    for i in range(5):
        kube.add_event(pod, "Unhealthy", f"Readiness probe failed: {i}", last=T0)
    kube.add_event(pod, "Pulled", "Container image already present", type="Normal", last=T0)
    assert len(kc.warning_events(NS)) == 5

    monkeypatch.setattr(kubernetes_pods, "EVENT_PAGE", 2)
    monkeypatch.setattr(kubernetes_pods, "EVENT_PAGES", 2)
    kube.clear_requests()
    found = kc.warning_events(NS)
    assert len(found) == 4
    assert all(e["type"] == "Warning" for e in found)
    assert [p for _, p, _ in kube.requests] == [f"/api/v1/namespaces/{NS}/events"] * 2


def test_previous_log_is_bounded_text_and_none_without_a_previous_instance(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud-scorer:1.0", container="model", at=T0)
    crashed = pods.container(
        "model", last=pods.terminated("OOMKilled", 137, T0), restarts=1, ready=False
    )
    pod = kube.add_pod(NS, "fraud-scorer", pods.running(crashed))["metadata"]["name"]
    kube.set_log(NS, pod, "model", "serving\n")  # the current instance's: not this one
    kube.set_log(NS, pod, "model", "step 1\nstep 2\nKilled\n", previous=True)

    assert kc.previous_log(NS, pod, "model", tail_lines=2, limit_bytes=1000) == "step 2\nKilled\n"
    assert kc.previous_log(NS, pod, "model", tail_lines=3, limit_bytes=4) == "step"
    fresh = kube.add_pod(NS, "fraud-scorer", pods.running(pods.container("model")))
    fresh_name = fresh["metadata"]["name"]
    assert kc.previous_log(NS, fresh_name, "model", tail_lines=5, limit_bytes=99) is None
    with pytest.raises(ExternalServiceError) as exc:
        kc.previous_log(NS, "fraud-scorer-gone", "model", tail_lines=5, limit_bytes=99)
    assert exc.value.status == 404


def test_previous_log_replaces_bytes_that_are_not_utf8(kube: KubeApiFake, kc: KubeClient) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud-scorer:1.0", container="model", at=T0)
    crashed = pods.container("model", last=pods.terminated("Error", 1, T0), restarts=1)
    pod = kube.add_pod(NS, "fraud-scorer", pods.running(crashed))["metadata"]["name"]
    kube.set_log(NS, pod, "model", "café ☕ done\n", previous=True)
    # limitBytes cuts the coffee cup (3 bytes in UTF-8) in half.
    text = kc.previous_log(NS, pod, "model", tail_lines=1, limit_bytes=len("café ".encode()) + 2)
    assert text == "café \ufffd"
