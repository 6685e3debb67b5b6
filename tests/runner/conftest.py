"""Shared by the runner tests: a Deployment rolled from 2.3.0 to 2.3.1 an hour ago, in the
Kubernetes API fake under the chart's Role (what a rollback takes back)."""

from __future__ import annotations

import pytest

from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.kube import roll_fraud_scorer


@pytest.fixture
def kube(kube: KubeApiFake) -> KubeApiFake:
    """tests/conftest.py's ``kube``, with ml-serving/fraud-scorer rolled to 2.3.1 an hour ago."""
    roll_fraud_scorer(kube)
    return kube
