"""The Kubernetes API fake as the suites seed it.

The fixtures on the fake (``kube``, ``kubeconfig``, ``kc`` and ``kube_grants``, which says what
the fake allows) are in tests/conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes.kubernetes.api import KubeApiFake

NS, DEPLOY = "ml-serving", "fraud-scorer"


def roll_fraud_scorer(kube: KubeApiFake) -> None:
    """ml-serving/fraud-scorer created at 2.3.0 two hours ago and rolled to 2.3.1 an hour ago:
    what a rollback takes back."""
    start = datetime.now(UTC) - timedelta(hours=2)
    kube.add_deployment(NS, DEPLOY, "registry/fraud-scorer:2.3.0", at=start)
    kube.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.1", at=start + timedelta(hours=1))
