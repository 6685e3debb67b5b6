"""opsbot's Kubernetes adapter against the API server fake, through the official client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from bot.clients.kubernetes import KubeClient, Revision, RolloutStatus
from bot.errors import ConfigError, ExternalServiceError
from tests.fakes.kubernetes.api import KubeApiFake

NS = "ml"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def kube_grants() -> None:
    """The adapter is tested on the API, not on the chart's Role: the fake allows everything."""
    return None


@pytest.fixture
def kc(kubeconfig: Path) -> Iterator[KubeClient]:
    """The adapter with a 2 s timeout (tests/conftest.py's ``kc`` has the default)."""
    with KubeClient.from_kubeconfig(kubeconfig, timeout_s=2.0) as adapter:
        yield adapter


def rollback(kc: KubeClient, namespace: str, name: str, revision: int) -> None:
    """``kubectl rollout undo --to-revision``, as kubectl does it (client side, a JSON patch)."""
    apps = client.AppsV1Api(kc.api_client)
    target = next(
        rs
        for rs in apps.list_namespaced_replica_set(namespace).items
        if rs.metadata.annotations["deployment.kubernetes.io/revision"] == str(revision)
    )
    template = kc.api_client.sanitize_for_serialization(target.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = {
        k: v for k, v in target.metadata.annotations.items() if not k.startswith("deployment.")
    }
    ops = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    apps.patch_namespaced_deployment(name, namespace, ops)


def test_history_after_several_rolls_lists_owned_replicasets_by_revision(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/ml/fraud-scorer:1.0", change_cause="ci #1", at=T0)
    kube.roll(
        NS,
        "fraud-scorer",
        "reg/ml/fraud-scorer:1.1",
        change_cause="ci #2",
        at=T0 + timedelta(hours=1),
    )
    # no change-cause this time: the Deployment's old one is copied, as on a cluster
    kube.roll(NS, "fraud-scorer", "reg/ml/fraud-scorer:1.2", at=T0 + timedelta(hours=2))
    # same labels, another owner: matches the selector but is not this Deployment's history
    kube.add_deployment(
        NS, "fraud-scorer-canary", "reg/ml/fraud-scorer:2.0", labels={"app": "fraud-scorer"}
    )

    history = kc.rollout_history(NS, "fraud-scorer")

    names = [rs["metadata"]["name"] for rs in kube.replicasets(NS, "fraud-scorer")]
    assert history == [
        Revision(1, names[0], T0, ["reg/ml/fraud-scorer:1.0"], "ci #1", False),
        Revision(2, names[1], T0 + timedelta(hours=1), ["reg/ml/fraud-scorer:1.1"], "ci #2", False),
        Revision(3, names[2], T0 + timedelta(hours=2), ["reg/ml/fraud-scorer:1.2"], "ci #2", True),
    ]
    assert all(r.created_at.tzinfo == UTC for r in history)
    assert [r.revision for r in kc.rollout_history(NS, "fraud-scorer-canary")] == [1]


def test_history_after_a_rollback_shows_the_reused_replicaset_as_newest(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1.0", change_cause="ci #1", at=T0)
    kube.roll(NS, "fraud-scorer", "reg/fraud:1.1", change_cause="ci #2", at=T0 + timedelta(hours=1))
    first = kc.rollout_history(NS, "fraud-scorer")[0]

    rollback(kc, NS, "fraud-scorer", 1)
    history = kc.rollout_history(NS, "fraud-scorer")

    assert [(r.revision, r.images, r.change_cause, r.current) for r in history] == [
        (2, ["reg/fraud:1.1"], "ci #2", False),
        (3, ["reg/fraud:1.0"], "ci #1", True),
    ]
    assert (history[-1].replicaset, history[-1].created_at) == (first.replicaset, T0)


def test_status_while_held_completed_and_failed_reads_like_kubectl(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    kube.hold_rollouts()
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1.0", replicas=2)
    assert kc.rollout_status(NS, "fraud-scorer") == RolloutStatus(
        desired=2,
        updated=2,
        ready=0,
        available=0,
        complete=False,
        failed=False,
        message='Waiting for deployment "fraud-scorer" rollout to finish: '
        "0 of 2 updated replicas are available...",
    )
    kube.complete_rollout(NS, "fraud-scorer")
    done = kc.rollout_status(NS, "fraud-scorer")
    assert (done.complete, done.available) == (True, 2)
    assert done.message == 'deployment "fraud-scorer" successfully rolled out'

    kube.roll(NS, "fraud-scorer", "reg/fraud:1.1")
    rolling = kc.rollout_status(NS, "fraud-scorer")
    assert (rolling.complete, rolling.failed, rolling.updated, rolling.ready) == (
        False,
        False,
        1,
        2,
    )
    assert rolling.message.endswith("1 out of 2 new replicas have been updated...")

    kube.fail_rollout(NS, "fraud-scorer")
    failed = kc.rollout_status(NS, "fraud-scorer")
    assert (failed.complete, failed.failed) == (False, True)
    assert failed.message == 'deployment "fraud-scorer" exceeded its progress deadline'


def test_old_replicas_pending_termination_are_not_complete(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1.0", replicas=4)
    kube.hold_rollouts()
    kube.roll(NS, "fraud-scorer", "reg/fraud:1.1")
    # the new pods are all there, one old one still winding down
    apps = client.AppsV1Api(kc.api_client)
    apps.patch_namespaced_deployment_scale("fraud-scorer", NS, {"spec": {"replicas": 2}})
    status = kc.rollout_status(NS, "fraud-scorer")
    assert status.complete is False
    assert "old replicas are pending termination" in status.message


def test_missing_deployment_is_an_external_service_error_that_names_it(
    kube: KubeApiFake, kc: KubeClient
) -> None:
    for call in (kc.rollout_history, kc.rollout_status):
        with pytest.raises(ExternalServiceError) as exc:
            call(NS, "fraud-scorer")
        assert exc.value.system == "kubernetes"
        assert exc.value.operation == call.__name__
        assert exc.value.status == 404
        assert exc.value.detail == "deployment ml/fraud-scorer not found"


def test_server_errors_and_refused_credentials_are_readable(
    kube: KubeApiFake, kc: KubeClient, tmp_path: Path
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1.0")
    kube.fail_next(1, status=503, path="/replicasets")
    with pytest.raises(ExternalServiceError) as exc:
        kc.rollout_history(NS, "fraud-scorer")
    assert exc.value.status == 503
    assert exc.value.detail.startswith("replicasets of deployment ml/fraud-scorer: 503")
    assert "unable to handle the request" in exc.value.detail

    wrong = kube.write_kubeconfig(tmp_path / "wrong-token")
    wrong.write_text(wrong.read_text().replace(kube.token, "not-the-token"))
    with KubeClient.from_kubeconfig(wrong) as refused, pytest.raises(ExternalServiceError) as exc:
        refused.rollout_status(NS, "fraud-scorer")
    assert exc.value.status == 401
    assert "refused the credentials" in exc.value.detail


def test_a_slow_api_server_fails_within_the_timeout(kube: KubeApiFake, kubeconfig: Path) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1.0")
    with KubeClient.from_kubeconfig(kubeconfig, timeout_s=0.3) as kc:
        for path in ("/deployments/", "/replicasets"):  # each call carries the timeout
            kube.delay_next(5.0, path=path)
            kube.clear_requests()
            started = time.monotonic()
            with pytest.raises(ExternalServiceError) as exc:
                kc.rollout_history(NS, "fraud-scorer")
            assert time.monotonic() - started < 1.5
            assert exc.value.status is None
            assert "no answer from http://127.0.0.1:" in exc.value.detail
            assert exc.value.detail.endswith("within 0.3s")
            assert sum(1 for _, p, _ in kube.requests if path in p) == 1  # no read retry


def test_an_unreachable_api_server_is_an_external_service_error(tmp_path: Path) -> None:
    fake = KubeApiFake()
    with fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    with (
        KubeClient.from_kubeconfig(kubeconfig, timeout_s=1.0) as kc,
        pytest.raises(ExternalServiceError) as exc,
    ):
        kc.rollout_status(NS, "fraud-scorer")
    assert exc.value.status is None
    assert "cannot reach http://127.0.0.1:" in exc.value.detail


def test_from_environment_uses_kubeconfig_when_set_and_none_otherwise(
    kube: KubeApiFake, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add_deployment(NS, "fraud-scorer", "reg/fraud:1.0")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert KubeClient.from_environment() is None

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    configured = KubeClient.from_environment(timeout_s=1.0)
    assert configured is not None
    with configured:
        assert configured.timeout_s == 1.0
        assert configured.rollout_status(NS, "fraud-scorer").complete is True

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig.parent / "missing"))
    with pytest.raises(ConfigError, match="missing"):
        KubeClient.from_environment()


def test_in_cluster_without_a_service_account_token_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(ConfigError, match="in-cluster service account: Service token file"):
        KubeClient.from_environment()
    assert KubeClient.from_environment(environ={}) is None
