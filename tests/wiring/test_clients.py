"""The one set of outside clients, built from settings: what is configured is there, with the
timeout of its use, and reads share the writes' connections."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from bot.clients.llm import TokenBudget
from bot.config import Settings
from bot.errors import ExternalServiceError
from bot.wiring.clients import ACTION_TIMEOUT_S, build_clients, llm_client
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.openai.api import OpenAIFake, reply_json

KEY = "sk-proj-opsbotTEST0123456789abcdefXYZ"
NS = "payments"


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[tuple[KubeApiFake, Path]]:
    with KubeApiFake() as server:
        yield server, server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)


def settings(**values: object) -> Settings:
    return Settings(database_url="sqlite://", **values)  # type: ignore[arg-type]


def test_nothing_configured_gives_no_clients_but_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    clients = build_clients(settings())
    assert (clients.kube, clients.prom, clients.pagerduty, clients.airflow) == (None,) * 4
    assert clients.ray is not None  # a local head, started on first use (nothing started yet)
    assert clients.reads(1.0) == clients


def test_reads_share_the_connection_pool_with_their_own_timeout(
    kube: tuple[KubeApiFake, Path],
) -> None:
    server, kubeconfig = kube
    server.add_deployment(NS, "fraud-scorer", "fraud:1.4.2")
    clients = build_clients(settings(kubeconfig=kubeconfig, prometheus_url="http://127.0.0.1:9/"))
    assert clients.kube is not None
    assert clients.prom is not None
    reads = clients.reads(0.5)
    assert reads.kube is not None
    assert reads.prom is not None
    assert reads.kube.api_client is clients.kube.api_client
    assert (clients.kube.timeout_s, reads.kube.timeout_s) == (ACTION_TIMEOUT_S, 0.5)
    assert (clients.prom.timeout_s, reads.prom.timeout_s) == (ACTION_TIMEOUT_S, 0.5)
    assert reads.prom.url == clients.prom.url
    assert reads.pagerduty is clients.pagerduty
    assert reads.ray is clients.ray

    # The read view's timeout is the one that applies: a late answer fails it, not the writer.
    assert reads.kube.read_deployment(NS, "fraud-scorer")["metadata"]["name"] == "fraud-scorer"
    server.delay_next(2.0, path="/deployments/fraud-scorer")
    started = time.monotonic()
    with pytest.raises(ExternalServiceError, match=r"within 0\.5s"):
        reads.kube.read_deployment(NS, "fraud-scorer")
    assert time.monotonic() - started < 1.8
    server.delay_next(1.0, path="/deployments/fraud-scorer")
    assert clients.kube.read_deployment(NS, "fraud-scorer")["spec"]["replicas"] == 3
    clients.kube.close()


def test_pagerduty_writes_need_a_from_address(caplog: pytest.LogCaptureFixture) -> None:
    token = SecretStr("u+pd-token")
    with caplog.at_level(logging.WARNING):
        assert build_clients(settings(pagerduty_api_token=token)).pagerduty is None
    assert "OPSBOT_PAGERDUTY_FROM" in caplog.text
    clients = build_clients(
        settings(pagerduty_api_token=token, pagerduty_from="opsbot@example.com")
    )
    assert clients.pagerduty is not None


class Verdict(BaseModel):
    headline: str


def test_llm_client_from_settings() -> None:
    assert llm_client(settings()) is None
    assert llm_client(settings(openai_api_key=SecretStr("  "))) is None
    with OpenAIFake(api_key=KEY) as fake:
        llm = llm_client(
            settings(
                openai_api_key=SecretStr(KEY),
                openai_base_url=fake.base_url,
                llm_model="gpt-4.1-mini",
                llm_timeout_s=7.5,
            )
        )
        assert llm is not None
        try:
            assert (llm.model, llm.timeout_s) == ("gpt-4.1-mini", 7.5)
            fake.script(reply_json({"headline": "p99 up after deploy"}))
            answer = llm.structured(
                system="You summarise incidents.",
                user="alert: p99 latency high",
                schema=Verdict,
                budget=TokenBudget(5000),
            )
            assert answer == Verdict(headline="p99 up after deploy")
        finally:
            llm.close()
