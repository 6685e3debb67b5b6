"""One real Prometheus for the report tests, loaded with ``DRIFT_RULES`` (started on first use,
once per run of this directory, stopped at the end)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clients.prometheus import PromClient
from tests.reports.ml_history import DRIFT_RULES
from tests.reports.rules_prometheus import RulesPrometheus


@pytest.fixture(scope="session")
def drift_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RulesPrometheus]:
    prom = RulesPrometheus(tmp_path_factory.mktemp("drift-prom"), DRIFT_RULES)
    prom.start(wait_wired=False)  # the rules are loaded before /-/ready; no scrape is needed
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def prom_client(drift_prometheus: RulesPrometheus) -> Iterator[PromClient]:
    client = PromClient(drift_prometheus.url, timeout_s=5)
    yield client
    client.close()
