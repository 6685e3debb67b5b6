"""The real openlineage-python client, over its real HTTP transport, against the whole opsbot app
served by uvicorn: events with the client's own facet classes are stored and diffed; the gzip
transport config works; a client with the wrong API key is refused and stores nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import uvicorn
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.generated.data_quality_metrics_input_dataset import (
    ColumnMetrics,
    DataQualityMetricsInputDatasetFacet,
)
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import build_app
from bot.config import Settings
from bot.lineage.queries import data_changes
from bot.store.models import LineageEvent, LineageRun, LineageRunDataset
from tests.support.server import free_port

API_KEY = "openlineage-api-key"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
WH = "postgres://warehouse:5432"


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    """``opsbot serve``'s app under uvicorn in a thread, on a free port."""
    app = build_app(Settings(database_url=db_url, api_token=API_KEY), migrate=False)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during startup"
        assert time.monotonic() < deadline, "uvicorn did not start in 20 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def stored(engine: Engine) -> Any:
    def read(model: Any) -> list[Any]:
        with Session(engine) as s:
            return list(s.exec(select(model)).all())

    read.engine = engine  # type: ignore[attr-defined]
    return read


@pytest.fixture
def clients() -> Iterator[list[OpenLineageClient]]:
    made: list[OpenLineageClient] = []
    yield made
    for client in made:
        client.close()


def http_client(url: str, key: str, made: list[OpenLineageClient]) -> OpenLineageClient:
    transport = HttpTransport(HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": key})))
    client = OpenLineageClient(transport=transport)
    made.append(client)
    return client


def gzip_client(url: str, key: str, made: list[OpenLineageClient]) -> OpenLineageClient:
    """Configured as an ``openlineage.yml`` would be: http transport, api_key auth, gzip."""
    transport = {
        "type": "http",
        "url": url,
        "auth": {"type": "api_key", "apiKey": key},
        "compression": "gzip",
    }
    client = OpenLineageClient(config={"transport": transport})
    assert isinstance(client.transport, HttpTransport)
    assert str(client.transport.compression) == "gzip"
    made.append(client)
    return client


def columns(*names: str) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type="VARCHAR") for n in names]
    )


def run_events(
    run_id: str,
    minutes: int,
    *,
    cols: tuple[str, ...],
    rows: int,
    version: str,
    state: RunState = RunState.COMPLETE,
) -> list[RunEvent]:
    job = Job(namespace="airflow", name="daily.build_transactions")
    source = InputDataset(
        namespace=WH,
        name="raw.payments",
        inputFacets={
            "dataQualityMetrics": DataQualityMetricsInputDatasetFacet(
                columnMetrics={"amount": ColumnMetrics(nullCount=2, max=9.5)},
                rowCount=rows + 5,
            )
        },
    )
    written = OutputDataset(
        namespace=WH,
        name="features.transactions",
        facets={
            "schema": columns(*cols),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version),
        },
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows, size=rows * 100
            )
        },
    )
    run_facets: dict[str, Any] = {}
    if state == RunState.FAIL:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message="disk full", programmingLanguage="python"
        )
    start = T0 + timedelta(minutes=minutes)
    return [
        RunEvent(
            eventType=RunState.START,
            eventTime=start.isoformat(),
            run=Run(runId=run_id),
            job=job,
            producer="https://github.com/acme/pipelines",
            inputs=[source],
            outputs=[written],
        ),
        RunEvent(
            eventType=state,
            eventTime=(start + timedelta(minutes=7)).isoformat(),
            run=Run(runId=run_id, facets=run_facets),
            job=job,
            producer="https://github.com/acme/pipelines",
            inputs=[source],
            outputs=[written],
        ),
    ]


def test_events_from_the_real_client_are_stored_and_diffed(
    server: str, stored: Any, clients: list[OpenLineageClient]
) -> None:
    client = http_client(server, API_KEY, clients)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for e in run_events(first, 0, cols=("id", "amount", "currency"), rows=1000, version="41"):
        client.emit(e)
    for e in run_events(second, 60, cols=("id", "currency"), rows=600, version="42"):
        client.emit(e)
    client.emit(run_events(second, 60, cols=("id",), rows=1, version="x")[1])  # a retry: no-op

    assert len(stored(LineageEvent)) == 4
    assert {r.state for r in stored(LineageRun)} == {"COMPLETE"}
    source = next(d for d in stored(LineageRunDataset) if d.name == "raw.payments")
    assert source.quality_metrics["rowCount"] == 1005
    assert source.quality_metrics["columnMetrics"]["amount"] == {"nullCount": 2, "max": 9.5}
    with Session(stored.engine) as s:
        latest, earliest = data_changes(
            s, [(WH, "features.transactions")], T0, T0 + timedelta(hours=2)
        )
    assert earliest.first_run is True
    assert (latest.run_id, latest.job, latest.state) == (
        second,
        "airflow/daily.build_transactions",
        "COMPLETE",
    )
    assert latest.at == T0 + timedelta(minutes=67)
    assert (latest.schema_removed, latest.schema_added) == (["amount"], [])
    assert (latest.row_count_before, latest.row_count_after, latest.row_count_pct) == (
        1000,
        600,
        -40.0,
    )
    assert (latest.version_before, latest.version_after) == ("41", "42")
    assert latest.summary() == (
        f"{WH}/features.transactions: 1 column removed (amount), rows -40% (1k → 600), "
        "version 41 → 42"
    )


def test_gzip_transport_config_is_accepted_and_a_failed_run_is_marked(
    server: str, stored: Any, clients: list[OpenLineageClient]
) -> None:
    client = gzip_client(server, API_KEY, clients)
    run_id = str(uuid.uuid4())
    for e in run_events(run_id, 0, cols=("id",), rows=10, version="1", state=RunState.FAIL):
        client.emit(e)
    [run] = stored(LineageRun)
    assert (run.run_id, run.state, run.error_message) == (run_id, "FAIL", "disk full")
    with Session(stored.engine) as s:
        [change] = data_changes(s, [(WH, "features.transactions")], T0, T0 + timedelta(hours=1))
    assert (change.failed, change.state, change.row_count_after) == (True, "FAIL", 10)


@pytest.mark.parametrize("make", [http_client, gzip_client], ids=["plain", "gzip"])
def test_a_client_with_the_wrong_api_key_is_refused(
    server: str, stored: Any, clients: list[OpenLineageClient], make: Any
) -> None:
    client = make(server, "not-the-key", clients)
    with pytest.raises(requests.HTTPError) as refused:
        client.emit(run_events(str(uuid.uuid4()), 0, cols=("id",), rows=1, version="1")[0])
    assert refused.value.response.status_code == 401
    assert stored(LineageEvent) == []
    assert stored(LineageRun) == []
