"""Fixtures for the fake's own tests: tests/conftest.py's ``kube``, allowing everything unless a
module grants less (test_rbac.py), a kubeconfig whose context is in namespace ``ml``, and the
official ``kubernetes`` client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.client import ApiClient

from tests.fakes.kubernetes.rbac import Grants

NS = "ml"


@pytest.fixture
def kube_grants() -> Grants | None:
    return None


@pytest.fixture
def kube_namespace() -> str:
    return NS


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[ApiClient]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    yield api_client
    api_client.close()
