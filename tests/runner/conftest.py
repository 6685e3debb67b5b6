"""Shared by the runner tests: a Deployment rolled from 2.3.0 to 2.3.1 an hour ago, in the
Kubernetes API fake (what a rollback takes back)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.chart_role import chart_kube_fake

NS, DEPLOY = "ml-serving", "fraud-scorer"


@pytest.fixture
def kube() -> Iterator[KubeApiFake]:
    with chart_kube_fake() as fake:
        start = datetime.now(UTC) - timedelta(hours=2)
        fake.add_deployment(NS, DEPLOY, "registry/fraud-scorer:2.3.0", at=start)
        fake.roll(NS, DEPLOY, "registry/fraud-scorer:2.3.1", at=start + timedelta(hours=1))
        yield fake
