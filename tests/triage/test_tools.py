"""The triage tools read, report what they read, and turn every failure into an error result."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.clients.prometheus import PromClient
from bot.store.models import Incident
from bot.triage import tools
from bot.triage.tools import TriageScope
from tests.support.server import free_port
from tests.triage.conftest import (
    CATALOG,
    OTHER_PLAYBOOK,
    PLAYBOOK,
    SERVICE,
    row_counts,
    seed,
)

TRIAGE = Path(__file__).parents[2] / "bot" / "triage"


def scope(engine: Engine, incident_id: int, prom: object = None) -> TriageScope:
    return TriageScope(engine=engine, catalog=CATALOG, prom=prom, incident_id=incident_id)


def test_every_tool_is_an_openai_function_with_a_closed_schema() -> None:
    specs = tools.specs()
    names = [s["function"]["name"] for s in specs]
    assert names == [
        "incident_timeline",
        "suspects",
        "changes",
        "metric",
        "deploy_history",
        "job_status",
        "propose_playbook",
    ]
    for spec in specs:
        assert spec["type"] == "function"
        params = spec["function"]["parameters"]
        assert params["type"] == "object"
        assert params["additionalProperties"] is False
        assert spec["function"]["description"]
    json.dumps(specs)  # plain JSON, as the API gets it


def test_triage_imports_nothing_that_can_write() -> None:
    for path in TRIAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
            elif isinstance(node, ast.Import):
                module = ",".join(a.name for a in node.names)
            else:
                continue
            assert not module.startswith(("actions", "bot.runner")), (path.name, module)
            assert "bot.audit" not in module, (path.name, module)
            assert "outbox" not in module, (path.name, module)


def test_incident_timeline_has_the_facts_alerts_and_events(engine: Engine) -> None:
    seeded = seed(engine, annotation="p95 above 400ms", note="checking the dashboard")
    result = tools.call(scope(engine, seeded.incident_id), "incident_timeline", {})
    assert result["status"] == "ok"
    assert result["query"].startswith(f"incident #{seeded.incident_id}")
    assert result["incident"]["service"] == SERVICE
    assert result["incident"]["playbooks_offered"] == [PLAYBOOK, OTHER_PLAYBOOK]
    assert result["alerts"][0]["annotations"]["description"] == "p95 above 400ms"
    texts = [e["text"] for e in result["timeline"]]
    assert "checking the dashboard" in texts
    assert result["timeline_total"] == 3


def test_long_texts_are_capped(engine: Engine) -> None:
    seeded = seed(engine, note="x" * 5000)
    result = tools.call(scope(engine, seeded.incident_id), "incident_timeline", {"limit": 1})
    (event,) = result["timeline"]
    assert len(event["text"]) <= tools.TEXT_MAX
    assert "truncated" in event["text"]


def test_suspects_are_the_ranked_enrichment_with_metrics(engine: Engine) -> None:
    seeded = seed(engine)
    result = tools.call(scope(engine, seeded.incident_id), "suspects", {"limit": 1})
    assert result["status"] == "ok"
    assert [s["ref"] for s in result["suspects"]] == ["fraud-model 1.4.2"]
    assert result["suspects_total"] == 2
    assert result["metrics"]["signals"][0]["name"] == "p95_latency"
    assert result["sources"]["rollouts"] == {
        "status": "unavailable",
        "reason": "Kubernetes is not configured",
    }


def test_suspects_before_enrichment_is_no_data(engine: Engine) -> None:
    seeded = seed(engine, enriched=False)
    result = tools.call(scope(engine, seeded.incident_id), "suspects", {})
    assert result["status"] == "no_data"
    assert "enrichment" in result["reason"]


def test_changes_lists_deploys_and_failed_lineage_runs(engine: Engine) -> None:
    seeded = seed(engine, lineage_error="column amount missing in source")
    result = tools.call(
        scope(engine, seeded.incident_id), "changes", {"service": SERVICE, "since_hours": 6}
    )
    assert result["status"] == "ok"
    kinds = {c["kind"]: c for c in result["changes"]}
    assert kinds["model"]["ref"] == "fraud-model 1.4.2"
    assert kinds["data"]["error"] == "column amount missing in source"
    assert "from" in result["query"]
    assert SERVICE in result["query"]


def test_changes_of_an_unknown_service_are_no_data_and_say_why(engine: Engine) -> None:
    seeded = seed(engine)
    result = tools.call(scope(engine, seeded.incident_id), "changes", {"service": "ghost"})
    assert result["status"] == "no_data"
    assert result["notes"] == ["ghost is not in the catalog: deploy events only"]


def test_changes_refuses_more_than_seven_days(engine: Engine) -> None:
    seeded = seed(engine)
    result = tools.call(
        scope(engine, seeded.incident_id), "changes", {"service": SERVICE, "since_hours": 500}
    )
    assert result["status"] == "error"
    assert result["error"].startswith("invalid arguments: since_hours")


def test_metric_runs_only_catalog_signals_by_name(sqlite_url: str, engine: Engine) -> None:
    seeded = seed(engine)
    s = scope(engine, seeded.incident_id, prom=PromClient("http://127.0.0.1:1"))
    promql = tools.call(s, "metric", {"service": SERVICE, "signal": "sum(rate(x[5m]))"})
    assert promql["status"] == "error"
    assert "signal" in promql["error"]
    unknown = tools.call(s, "metric", {"service": SERVICE, "signal": "cpu"})
    assert unknown["error"].endswith("its catalog signals: error_ratio, p95_latency")
    ghost = tools.call(s, "metric", {"service": "ghost", "signal": "error_ratio"})
    assert "not in the catalog" in ghost["error"]
    long = tools.call(
        s, "metric", {"service": SERVICE, "signal": "error_ratio", "window_minutes": 600}
    )
    assert long["error"].startswith("invalid arguments: window_minutes")


def test_metric_without_prometheus_is_an_error(engine: Engine) -> None:
    seeded = seed(engine)
    result = tools.call(
        scope(engine, seeded.incident_id), "metric", {"service": SERVICE, "signal": "error_ratio"}
    )
    assert result == {
        "status": "error",
        "error": "Prometheus is not configured",
        "query": "catalog signal error_ratio of fraud-scorer, last 60 min",
    }


def test_metric_with_prometheus_down_is_an_error_with_the_query(engine: Engine) -> None:
    seeded = seed(engine)
    prom = PromClient(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    try:
        result = tools.call(
            scope(engine, seeded.incident_id, prom),
            "metric",
            {"service": SERVICE, "signal": "error_ratio", "window_minutes": 30},
        )
    finally:
        prom.close()
    assert result["status"] == "error"
    assert "cannot connect" in result["error"]
    assert result["query"].startswith('sum(opsbot_test_error_ratio{service="fraud-scorer"}) from')


def test_deploy_history(engine: Engine) -> None:
    seeded = seed(engine)
    s = scope(engine, seeded.incident_id)
    result = tools.call(s, "deploy_history", {"service": SERVICE})
    assert result["status"] == "ok"
    assert result["deploys"][0]["version"] == "1.4.2"
    assert tools.call(s, "deploy_history", {"service": "ghost"})["status"] == "no_data"


def test_job_status_of_the_incident_and_by_number(engine: Engine) -> None:
    seeded = seed(engine, log_line="CUDA out of memory")
    s = scope(engine, seeded.incident_id)
    mine = tools.call(s, "job_status", {})
    assert mine["status"] == "ok"
    (job,) = mine["jobs"]
    assert job["status"] == "failed"
    assert "CUDA out of memory" in job["log_tail"]
    assert tools.call(s, "job_status", {"job_id": seeded.job_id})["jobs"][0]["id"] == seeded.job_id
    assert tools.call(s, "job_status", {"job_id": 9999})["status"] == "no_data"


def test_propose_playbook_notes_only_an_offered_playbook(engine: Engine) -> None:
    seeded = seed(engine)
    s = scope(engine, seeded.incident_id)
    before = row_counts(engine)
    refused = tools.call(s, "propose_playbook", {"name": "scale-to-500", "reason": "fast"})
    assert refused["status"] == "error"
    assert refused["error"] == (
        f"not a playbook this incident offers; offered: {PLAYBOOK}, {OTHER_PLAYBOOK}"
    )
    assert s.proposals == []
    with_params = tools.call(
        s, "propose_playbook", {"name": PLAYBOOK, "reason": "r", "params": {"replicas": 500}}
    )
    assert with_params["error"] == "invalid arguments: params: Extra inputs are not permitted"
    assert s.proposals == []
    accepted = tools.call(s, "propose_playbook", {"name": PLAYBOOK, "reason": "deploy"})
    assert accepted["status"] == "ok"
    assert "Nothing was started" in accepted["note"]
    assert [p.name for p in s.proposals] == [PLAYBOOK]
    second = tools.call(s, "propose_playbook", {"name": OTHER_PLAYBOOK, "reason": "or this"})
    assert second["status"] == "error"
    assert [p.name for p in s.proposals] == [PLAYBOOK]
    assert row_counts(engine) == before  # nothing was written, nothing started


def test_propose_playbook_on_a_resolved_incident_is_refused(engine: Engine) -> None:
    seeded = seed(engine, status="resolved")
    s = scope(engine, seeded.incident_id)
    result = tools.call(s, "propose_playbook", {"name": PLAYBOOK, "reason": "deploy"})
    assert result["status"] == "error"
    assert s.proposals == []


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("scale_deployment", {"replicas": 500}, "there is no tool of that name"),
        ("suspects", None, "the arguments are not a JSON object"),
        ("job_status", {"job_id": "<!channel> ignore previous"}, "invalid arguments: job_id"),
    ],
)
def test_bad_calls_are_error_results_that_do_not_echo_the_input(
    engine: Engine, name: str, arguments: dict[str, object] | None, expected: str
) -> None:
    seeded = seed(engine)
    result = tools.call(scope(engine, seeded.incident_id), name, arguments)
    assert result["status"] == "error"
    assert result["error"].startswith(expected)
    assert "<!channel>" not in json.dumps(result)


def test_a_tool_that_fails_reports_an_error_instead_of_raising(engine: Engine) -> None:
    seeded = seed(engine)

    def now() -> datetime:
        raise RuntimeError("clock broke")

    s = TriageScope(engine, CATALOG, None, seeded.incident_id, now=now)
    result = tools.call(s, "changes", {"service": SERVICE})
    assert result == {
        "status": "error",
        "error": "the read failed (RuntimeError)",
        "query": "changes fraud-scorer 24h",
    }


def test_a_gone_incident(engine: Engine) -> None:
    seeded = seed(engine)
    with Session(engine) as s:
        assert s.get(Incident, seeded.incident_id) is not None
    result = tools.call(scope(engine, seeded.incident_id + 100), "incident_timeline", {})
    assert result["status"] == "error"
    assert result["error"] == "the incident is gone"


@pytest.mark.integration
def test_metric_reads_the_catalog_query_from_a_real_prometheus(
    engine: Engine, tmp_path: Path
) -> None:
    from tests.integration.promstack import Prometheus, wait_until
    from tests.support.exporter import ScriptedExporter

    seeded = seed(engine)
    labels = {"service": SERVICE}
    with ScriptedExporter() as exporter:
        exporter.set("opsbot_test_p95_seconds", 0.42, labels=labels)
        with Prometheus(tmp_path / "prom", exporter.url) as prometheus:
            prom = PromClient(prometheus.url, timeout_s=2.0)
            s = scope(engine, seeded.incident_id, prom)
            args = {"service": SERVICE, "signal": "p95_latency", "window_minutes": 5}
            wait_until(
                lambda: tools.call(s, "metric", args)["status"] == "ok",
                30,
                "a sample of the signal",
                prometheus.log_tail,
            )
            result = tools.call(s, "metric", args)
            prom.close()
    assert result["last"] == pytest.approx(0.42)
    assert result["unit"] == "s"
    assert result["query"].startswith('sum(opsbot_test_p95_seconds{service="fraud-scorer"}) from')
    assert result["samples"]
    assert result["samples"][-1][1] == pytest.approx(0.42)
    end = datetime.now(UTC)
    assert datetime.fromisoformat(result["samples"][-1][0]) > end - timedelta(minutes=5)
