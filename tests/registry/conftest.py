"""One real MLflow server for the registry tests that need it (started on first use, once per
run, stopped at the end), and an MLflow client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow import MlflowClient

from tests.support.mlflow_server import MLflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    with MLflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.fixture
def mlflow(mlflow_server: MLflowServer) -> MlflowClient:
    """MLflow's own client on the server: the registry operations a person makes."""
    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
