"""POST /api/v1/lineage and what it stores, on SQLite and PostgreSQL: dedupe, refusals, runs
whose events arrive out of order, failed runs, the change of each written dataset, and the
queries enrichment reads (``data_changes``, ``upstream_of``, ``recent_runs``)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.catalog.model import Catalog, DatasetRef
from bot.config import Settings
from bot.lineage.queries import data_changes, recent_runs, upstream_of
from bot.metrics import Metrics
from bot.store.engine import make_engine
from bot.store.models import LineageChange, LineageEvent, LineageRun, LineageRunDataset
from bot.web import lineage_routes
from tests.support.asgi import asgi_client

API_TOKEN = "lineage-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
URL = "/api/v1/lineage"
RUN_1 = "0190f1a2-0000-7000-8000-000000000001"
RUN_2 = "0190f1a2-0000-7000-8000-000000000002"
RUN_3 = "0190f1a2-0000-7000-8000-000000000003"
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
WH = "postgres://warehouse:5432"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def fields(*names: str, type_: str = "string") -> list[dict[str, Any]]:
    return [{"name": n, "type": type_} for n in names]


def output(
    name: str,
    *,
    namespace: str = WH,
    schema: list[dict[str, Any]] | None = None,
    rows: int | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if schema is not None:
        facets["schema"] = {"_producer": "p", "_schemaURL": "s", "fields": schema}
    if version is not None:
        facets["version"] = {"_producer": "p", "_schemaURL": "s", "datasetVersion": version}
    out_facets: dict[str, Any] = {}
    if rows is not None:
        out_facets["outputStatistics"] = {"_producer": "p", "_schemaURL": "s", "rowCount": rows}
    return {"namespace": namespace, "name": name, "facets": facets, "outputFacets": out_facets}


def input_(name: str, *, namespace: str = WH, rows: int | None = None) -> dict[str, Any]:
    in_facets: dict[str, Any] = {}
    if rows is not None:
        in_facets["dataQualityMetrics"] = {
            "_producer": "p",
            "_schemaURL": "s",
            "rowCount": rows,
            "columnMetrics": {"amount": {"nullCount": 3, "min": 0.5}},
        }
    return {"namespace": namespace, "name": name, "facets": {}, "inputFacets": in_facets}


def event(
    event_type: str = "COMPLETE",
    *,
    run_id: str = RUN_1,
    minutes: float = 0,
    job: str = "build_transactions",
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": at(minutes),
        "run": {"runId": run_id, "facets": run_facets or {}},
        "job": {"namespace": "etl", "name": job, "facets": {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
        "producer": "https://github.com/acme/pipelines",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


@dataclass
class LineageRuntime:
    """What the lineage router reads from ``bot.runtime.Runtime``: the route is tested on its
    own here; tests/lineage/test_openlineage_client.py drives the whole ``opsbot serve`` app."""

    settings: Settings
    engine: Engine
    metrics: Metrics
    db_limiter: anyio.CapacityLimiter
    catalog: Catalog = field(default_factory=Catalog)  # no freshness objectives: none settled
    incident_channel: str = "C0INCIDENT"


def lineage_app(database_url: str, token: str | None = API_TOKEN) -> FastAPI:
    settings = Settings(database_url=database_url, api_token=token)
    rt = LineageRuntime(settings, make_engine(database_url), Metrics(), anyio.CapacityLimiter(4))
    app = FastAPI()
    app.state.runtime = rt
    app.include_router(lineage_routes.make_router(rt))  # type: ignore[arg-type]
    return app


@pytest.fixture
def app(db_url: str) -> FastAPI:
    return lineage_app(db_url)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


def rows(app: FastAPI, model: Any) -> list[Any]:
    with Session(app.state.runtime.engine) as s:
        return list(s.exec(select(model)).all())


def changes(app: FastAPI, *datasets: str, depth: int = 0, **window: datetime) -> list[Any]:
    since = window.get("since", T0 - timedelta(days=1))
    until = window.get("until", T0 + timedelta(days=1))
    with Session(app.state.runtime.engine) as s:
        return data_changes(s, [(WH, d) for d in datasets], since, until, upstream_depth=depth)


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    # json.dumps escapes non-ASCII, so a lone surrogate in a test body is sent as JSON sends it.
    headers = {**AUTH, "Content-Type": "application/json"}
    return await client.post(URL, content=json.dumps(body).encode(), headers=headers)


# ── Intake ─────────────────────────────────────────────────────────────────────────────────────


async def test_event_is_stored_with_201_and_a_repeat_is_a_200_duplicate(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = await post(client, event("START", outputs=[output("transactions")]))
    assert first.status_code == 201
    assert first.json() == {
        "run_id": RUN_1,
        "event_type": "START",
        "job": "etl/build_transactions",
        "state": "START",
        "duplicate": False,
        "changes": 0,
    }
    again = await post(client, event("START", outputs=[output("transactions")]))
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    [stored] = rows(app, LineageEvent)
    assert (stored.run_id, stored.event_type, stored.event_time) == (RUN_1, "START", T0)
    assert len(rows(app, LineageRun)) == 1
    assert len(rows(app, LineageRunDataset)) == 1


async def test_identical_events_posted_at_once_are_stored_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    body = event("COMPLETE", outputs=[output("transactions", rows=10)])
    answers = await asyncio.gather(*(post(client, body) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert len(rows(app, LineageEvent)) == 1
    assert len(rows(app, LineageRun)) == 1
    assert len(rows(app, LineageChange)) == 1


async def test_unauthorised_requests_are_refused_and_store_nothing(
    client: httpx.AsyncClient, app: FastAPI, db_url: str
) -> None:
    body = event()
    assert (await client.post(URL, json=body)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post(URL, json=body, headers=wrong)).status_code == 401
    basic = {"Authorization": f"Basic {API_TOKEN}"}
    assert (await client.post(URL, json=body, headers=basic)).status_code == 401
    assert rows(app, LineageEvent) == []
    unconfigured = lineage_app(db_url, token=None)
    async with asgi_client(unconfigured) as other:
        assert (await other.post(URL, json=body, headers=AUTH)).status_code == 401


def _walk(body: dict[str, Any], path: tuple[str | int, ...]) -> tuple[dict[str, Any], Any]:
    copy = json.loads(json.dumps(body))
    node = copy
    for step in path[:-1]:
        node = node[step]
    return copy, node


def without(body: dict[str, Any], *path: str | int) -> dict[str, Any]:
    copy, node = _walk(body, path)
    del node[path[-1]]
    return copy


def replaced(body: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    copy, node = _walk(body, path)
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (without(event(), "run", "runId"), "run.runId is required"),
        (replaced(event(), "run-42", "run", "runId"), "run.runId"),
        (replaced(event(), "2026-11-27T02:00:00", "eventTime"), "eventTime"),
        (replaced(event(), "yesterday", "eventTime"), "eventTime"),
        (without(event(), "eventType"), "eventType is required"),
        (replaced(event(), "DONE", "eventType"), "eventType"),
        (without(event(), "job", "name"), "job.name is required"),
        (replaced(event(), "", "job", "namespace"), "job.namespace"),
        (without(event(), "producer"), "producer is required"),
        (without(event(), "schemaURL"), "schemaURL is required"),
        (replaced(event(outputs=[output("x")]), None, "outputs", 0, "name"), "outputs.0.name"),
        (replaced(event(), "x" * 1001, "job", "name"), "job.name"),
    ],
    ids=[
        "missing-runId",
        "bad-runId",
        "naive-eventTime",
        "bad-eventTime",
        "missing-eventType",
        "bad-eventType",
        "missing-job-name",
        "empty-namespace",
        "missing-producer",
        "missing-schemaURL",
        "null-dataset-name",
        "long-name",
    ],
)
async def test_invalid_events_are_400_with_the_reason(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, Any], reason: str
) -> None:
    response = await post(client, body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(app, LineageEvent) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'"COMPLETE"', "expected a JSON object"),
        (b'{"eventType": NaN}', "NaN"),
        (b"\xff\xfe{}", "malformed JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON"),
        ("{}".encode("utf-16"), "UTF-16"),
    ],
    ids=["garbage", "empty", "array", "string", "nan", "not-utf8", "deep", "utf-16"],
)
async def test_malformed_bodies_are_400_never_500(
    client: httpx.AsyncClient, app: FastAPI, content: bytes, reason: str
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = await client.post(URL, content=content, headers=headers)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert rows(app, LineageEvent) == []


async def test_odd_but_valid_facets_are_stored_not_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"d": deep}
    body = event(
        outputs=[
            {
                "namespace": WH,
                "name": "odd",
                "facets": {
                    "schema": {"fields": "not a list"},
                    "version": {"datasetVersion": 42},
                    "custom": {"deep": deep, "nul": "a\u0000b", "lone": "\ud800", "big": 2**70},
                },
                "outputFacets": {"outputStatistics": {"rowCount": "many", "size": 12.0}},
            }
        ],
        inputs=[{"namespace": WH, "name": "nulls", "facets": None, "inputFacets": None}],
        run_facets={"nominalTime": None},
    )
    body["inputs"].append({"namespace": WH, "name": "more"})
    response = await post(client, body)
    assert response.status_code == 201, response.text
    out = next(r for r in rows(app, LineageRunDataset) if r.name == "odd")
    assert out.schema_fields is None
    assert out.version == "42"
    assert (out.row_count, out.size_bytes) == (None, 12)
    # NUL and an unpaired surrogate cannot be stored as text: both become U+FFFD.
    assert out.facets["facets"]["custom"]["nul"] == "a\ufffdb"
    assert out.facets["facets"]["custom"]["lone"] == "\ufffd"
    assert len(rows(app, LineageRunDataset)) == 3


async def test_wrong_content_type_or_encoding_is_415(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    raw = json.dumps(event()).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        headers = {**AUTH, "Content-Type": content_type}
        response = await client.post(URL, content=raw, headers=headers)
        assert response.status_code == 415, content_type
    brotli = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "br"}
    assert (await client.post(URL, content=raw, headers=brotli)).status_code == 415
    charset = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
    assert (await client.post(URL, content=raw, headers=charset)).status_code == 201
    assert len(rows(app, LineageEvent)) == 1


async def test_oversized_bodies_are_413_compressed_or_not(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    huge = event(run_facets={"blob": {"x": "x" * (1024 * 1024)}})
    assert (await post(client, huge)).status_code == 413
    bomb = gzip.compress(json.dumps(event(run_facets={"x": {"v": " " * 50_000_000}})).encode())
    assert len(bomb) < 100_000  # tiny on the wire, 50 MB inflated
    headers = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = await client.post(URL, content=bomb, headers=headers)
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]
    assert rows(app, LineageEvent) == []


async def test_gzip_bodies_are_inflated_and_broken_ones_are_400(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    headers = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    packed = gzip.compress(json.dumps(event(outputs=[output("transactions", rows=7)])).encode())
    response = await client.post(URL, content=packed, headers=headers)
    assert response.status_code == 201, response.text
    assert rows(app, LineageRunDataset)[0].row_count == 7
    assert (await client.post(URL, content=packed[:-12], headers=headers)).status_code == 400
    plain = json.dumps(event(run_id=RUN_2)).encode()
    assert (await client.post(URL, content=plain, headers=headers)).status_code == 400
    assert len(rows(app, LineageEvent)) == 1


async def test_static_dataset_events_are_accepted_and_ignored(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    static = {
        "eventTime": at(0),
        "dataset": {"namespace": WH, "name": "transactions", "facets": {}},
        "producer": "p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
    }
    response = await post(client, static)
    assert response.status_code == 202
    assert response.json()["ignored"] is True
    assert rows(app, LineageEvent) == []


async def test_storage_failure_is_503() -> None:
    assert not Path("/nonexistent-dir").exists()
    broken = lineage_app("sqlite:////nonexistent-dir/opsbot.db")
    async with asgi_client(broken) as c:
        response = await post(c, event())
    assert response.status_code == 503
    assert response.json() == {"error": "storage unavailable, retry later"}


# ── Runs: order, state, merged facets ──────────────────────────────────────────────────────────


async def test_events_of_a_run_in_any_order_give_the_terminal_state_and_merged_facets(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    start = event(
        "START",
        minutes=0,
        outputs=[output("transactions", schema=fields("id", "amount"), version="v1")],
    )
    running = event(
        "RUNNING",
        minutes=2,
        outputs=[output("transactions", schema=fields("id", "amount", "currency"))],
    )
    complete = event("COMPLETE", minutes=5, outputs=[output("transactions", rows=1000)])
    for body in (complete, running, start):  # newest first
        assert (await post(client, body)).status_code == 201
    [run] = rows(app, LineageRun)
    assert run.state == "COMPLETE"
    assert run.started_at == T0
    assert run.ended_at == T0 + timedelta(minutes=5)
    assert (run.first_event_at, run.last_event_at) == (T0, T0 + timedelta(minutes=5))
    [ds] = rows(app, LineageRunDataset)
    # The later RUNNING schema wins over the START one that arrived after it.
    assert [f["name"] for f in ds.schema_fields] == ["id", "amount", "currency"]
    assert (ds.row_count, ds.version) == (1000, "v1")
    [change] = rows(app, LineageChange)
    assert change.first_run is True
    assert change.at == T0 + timedelta(minutes=5)


async def test_fail_event_marks_the_run_and_its_usual_outputs_failed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, event(outputs=[output("transactions", rows=1000)]))
    await post(client, event("START", run_id=RUN_2, minutes=60))
    error = {"errorMessage": {"message": "OOMKilled in stage 3", "programmingLanguage": "python"}}
    failed = await post(client, event("FAIL", run_id=RUN_2, minutes=65, run_facets=error))
    assert failed.json()["state"] == "FAIL"
    assert failed.json()["changes"] == 1
    # A late RUNNING event does not bring a failed run back to life.
    await post(client, event("RUNNING", run_id=RUN_2, minutes=62))
    run = next(r for r in rows(app, LineageRun) if r.run_id == RUN_2)
    assert (run.state, run.error_message) == ("FAIL", "OOMKilled in stage 3")
    newest, oldest = changes(app, "transactions")
    assert (newest.run_id, newest.state, newest.failed, newest.inferred) == (
        RUN_2,
        "FAIL",
        True,
        True,
    )
    assert newest.error == "OOMKilled in stage 3"
    assert "run FAIL in etl/build_transactions: OOMKilled" in newest.summary()
    assert (oldest.run_id, oldest.failed) == (RUN_1, False)


async def test_abort_with_outputs_is_failed_and_compared_with_the_last_complete_run(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, event(outputs=[output("transactions", rows=1000)]))
    await post(client, event("ABORT", run_id=RUN_2, minutes=60, outputs=[output("transactions")]))
    [aborted, _] = changes(app, "transactions")
    assert (aborted.state, aborted.failed, aborted.inferred) == ("ABORT", True, False)
    assert aborted.row_count_before == 1000
    # The next complete run still compares with the last *complete* one.
    await post(client, event(run_id=RUN_3, minutes=120, outputs=[output("transactions", rows=900)]))
    latest = changes(app, "transactions")[0]
    assert (latest.run_id, latest.row_count_before, latest.row_count_pct) == (RUN_3, 1000, -10.0)


# ── Changes and the queries enrichment reads ───────────────────────────────────────────────────


async def test_second_run_with_a_removed_column_and_fewer_rows_gives_exactly_that_diff(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    cols = ("id", "amount", "currency")
    await post(client, event(outputs=[output("transactions", schema=fields(*cols), rows=1000)]))
    second = event(
        run_id=RUN_2,
        minutes=60,
        outputs=[output("transactions", schema=fields("id", "currency"), rows=600)],
    )
    assert (await post(client, second)).json()["changes"] == 1
    stored = next(c for c in rows(app, LineageChange) if c.run_id == RUN_2)
    assert stored.diff == {
        "first_run": False,
        "failed": False,
        "inferred": False,
        "previous_run_id": RUN_1,
        "schema": {"added": [], "removed": ["amount"], "retyped": []},
        "row_count": {"before": 1000, "after": 600, "change_pct": -40.0},
        "version": None,
        "current": {"row_count": 600, "version": None},
    }
    window = {"since": T0 + timedelta(minutes=30), "until": T0 + timedelta(minutes=90)}
    [found] = changes(app, "transactions", **window)
    assert found.run_id == RUN_2
    assert found.at == T0 + timedelta(minutes=60)
    assert (found.schema_removed, found.schema_added, found.schema_retyped) == (["amount"], [], [])
    assert (found.row_count_before, found.row_count_after, found.row_count_pct) == (
        1000,
        600,
        -40.0,
    )
    assert (found.failed, found.first_run, found.depth) == (False, False, 0)
    assert found.summary() == f"{WH}/transactions: 1 column removed (amount), rows -40% (1k → 600)"
    # Outside the window: nothing; the window's edges are inclusive.
    assert changes(app, "transactions", since=T0 + timedelta(minutes=61)) == []
    assert changes(app, "transactions", until=T0 + timedelta(minutes=59))[0].run_id == RUN_1
    edge = changes(app, "transactions", since=found.at, until=found.at)
    assert [c.run_id for c in edge] == [RUN_2]
    assert [c.run_id for c in changes(app, "transactions")] == [RUN_2, RUN_1]


async def test_runs_completing_out_of_order_are_compared_in_time_order(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    later = event(run_id=RUN_2, minutes=60, outputs=[output("transactions", rows=600)])
    earlier = event(run_id=RUN_1, minutes=0, outputs=[output("transactions", rows=1000)])
    await post(client, later)  # run 2 is seen first: no previous run yet
    assert changes(app, "transactions")[0].first_run is True
    await post(client, earlier)
    newest, oldest = changes(app, "transactions")
    assert (newest.run_id, newest.first_run, newest.row_count_pct) == (RUN_2, False, -40.0)
    assert (oldest.run_id, oldest.first_run) == (RUN_1, True)


async def test_upstream_changes_are_included_with_their_depth(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    # raw ──(job ingest)──> X ──(job features)──> Y
    await post(
        client,
        event(
            job="ingest",
            run_id=RUN_1,
            inputs=[input_("raw", rows=5000)],
            outputs=[output("X", rows=800, version="41")],
        ),
    )
    await post(
        client,
        event(
            job="features",
            run_id=RUN_2,
            minutes=30,
            inputs=[input_("X", rows=800)],
            outputs=[output("Y", rows=800)],
        ),
    )
    with Session(app.state.runtime.engine) as s:
        assert upstream_of(s, [DatasetRef(namespace=WH, name="Y")], 2) == {
            f"{WH}/Y": 0,
            f"{WH}/X": 1,
            f"{WH}/raw": 2,
        }
        assert upstream_of(s, [(WH, "Y")], 0) == {f"{WH}/Y": 0}
    own = changes(app, "Y", depth=0)
    assert [(c.name, c.depth) for c in own] == [("Y", 0)]
    both = changes(app, "Y", depth=1)
    assert [(c.name, c.depth, c.job) for c in both] == [
        ("Y", 0, "etl/features"),
        ("X", 1, "etl/ingest"),
    ]
    [x] = [c for c in both if c.name == "X"]
    assert (x.row_count_after, x.version_after, x.first_run) == (800, "41", True)
    stored_input = next(r for r in rows(app, LineageRunDataset) if r.name == "raw")
    assert stored_input.quality_metrics == {
        "rowCount": 5000,
        "bytes": None,
        "columnMetrics": {"amount": {"nullCount": 3, "min": 0.5}},
    }


async def test_recent_runs_lists_newest_first_with_their_datasets(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await post(client, event(inputs=[input_("raw")], outputs=[output("transactions")]))
    await post(client, event("START", run_id=RUN_2, minutes=10, job="features"))
    with Session(app.state.runtime.engine) as s:
        latest, first = recent_runs(s, limit=5)
    assert (latest.run_id, latest.job, latest.state, latest.ended_at) == (
        RUN_2,
        "etl/features",
        "START",
        None,
    )
    assert (first.inputs, first.outputs) == ([f"{WH}/raw"], [f"{WH}/transactions"])
