"""Inputs for the Block Kit builders' tests, and Slack's limits checked on their output."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.enrich.outcome import Outcome
from bot.enrich.suspects import Suspect
from bot.enrich.types import ChangeEvent, SourceResult
from bot.enrich.workload import (
    WorkloadFinding,
    WorkloadReport,
    report_json,
)
from bot.enrich.workload_events import EventLine
from bot.enrich.workload_log import log_excerpt
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Incident, IncidentStatus
from bot.store.run_models import RunView

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LONG = "x" * 5000


def incident(**fields: Any) -> Incident:
    values: dict[str, Any] = {
        "id": 42,
        "group_key": "g",
        "source": "alertmanager",
        "status": IncidentStatus.FIRING,
        "title": "FraudScorerErrors on ml-serving",
        "severity": "critical",
        "service": "fraud-scorer",
        "opened_at": T0,
    }
    values.update(fields)
    return Incident(**values)


@dataclass
class Alert:
    """An ``AlertLike``."""

    alertname: str
    fingerprint: str
    status: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def run_view(**fields: Any) -> RunView:
    values: dict[str, Any] = {
        "id": 1,
        "key": "k",
        "action": "rollback",
        "status": "awaiting_approval",
        "message": "Roll back <x>",
        "plan": {
            "summary": "Roll back ml-serving/fraud-scorer to rev 6",
            "lines": ["kubectl rollout undo <d>", "wait & see"],
        },
    }
    values.update(fields)
    return RunView(**values)


def change(kind: Any, i: int, summary: str) -> ChangeEvent:
    return ChangeEvent(
        kind=kind,
        ref=f"r{i}",
        service="s",
        at=T0 - timedelta(minutes=i),
        source="x",
        summary=summary,
        relation="upstream_dataset" if i % 2 else "same_service",
    )


def long_outcome() -> Outcome:
    """60 of everything, every text 5,000 characters."""
    suspect = Suspect(
        kind="code",
        ref=LONG,
        service=LONG,
        at=T0,
        score=0.5,
        reason=LONG,
        relation="same_service",
        source="x",
    )
    metrics = {
        "signals": [{"name": LONG, "baseline": 1, "now": 2, "unit": LONG}] * 60,
        "errors": {f"{LONG}{i}": LONG for i in range(60)},
    }
    return Outcome(
        incident_id=42,
        results={
            "suspects": SourceResult(source="suspects", status="ok"),
            "metrics": SourceResult(source="metrics", status="ok", data=metrics),
            "workload": long_workload(),
            **{
                f"s{i}": SourceResult(source=LONG, status="unavailable", reason=LONG)
                for i in range(60)
            },
        },
        changes=[change(k, i, LONG) for k in ("code", "model", "data") for i in range(60)],
        suspects=[suspect] * 60,
    )


def long_workload() -> SourceResult:
    """The ``workload`` source with 60 findings, 10 event lines, notes and a log, every text
    5,000 characters (the cluster's own words can be that long)."""
    finding = WorkloadFinding("Unschedulable", LONG, LONG, LONG, T0, LONG, 10**9, 10**9)
    report = WorkloadReport(
        service=LONG,
        observed_at=T0,
        deployments=(LONG,),
        pods=10**6,
        ready=0,
        pending=10**6,
        restarts=10**9,
        findings=tuple([finding, replace(finding, kind="OOMKilled")] * 30),
        events=tuple(EventLine(LONG, LONG, LONG, LONG, 10**9, T0, LONG) for _ in range(10)),
        event_lines=10**6,
        events_total=10**12,
        log=log_excerpt(LONG, LONG, "\n".join(["<!here> ```" * 500] * 60)),
        notes=(LONG, LONG),
    )
    return SourceResult("workload", "ok", data=report_json(report))


def job_run(**fields: Any) -> JobRun:
    values: dict[str, Any] = {
        "id": 7,
        "submission_id": "opsbot-train-fraud-scorer-7",
        "kind": "train",
        "template": "fraud-scorer",
        "entrypoint": "python -m ray_jobs.train",
        "requested_by": "U0ALICE",
        "resources": {"cpus": 2, "gpus": 1, "memory_gb": 4.0},
        "submitted_at": T0 - timedelta(minutes=2),
        "start_deadline_at": T0 + timedelta(minutes=3),
        "deadline_at": T0 + timedelta(hours=1),
        "status": JobStatus.RUNNING,
        "started_at": T0 - timedelta(seconds=60),
    }
    values.update(fields)
    return JobRun(**values)


def _text(obj: Any, where: str, limit: int, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return [f"{where}: no text object"]
    errors = []
    if obj.get("type") not in (("plain_text",) if plain else ("plain_text", "mrkdwn")):
        errors.append(f"{where}: type {obj.get('type')}")
    if not 0 < len(obj["text"]) <= limit:
        errors.append(f"{where}: {len(obj['text'])} characters, over {limit}")
    return errors


def _button(button: dict[str, Any], where: str) -> list[str]:
    errors = _text(button.get("text"), f"{where}/text", 75, plain=True)
    if len(str(button.get("value", ""))) > 2000:
        errors.append(f"{where}: value over 2000")
    if len(str(button.get("action_id", ""))) > 255:
        errors.append(f"{where}: action_id over 255")
    if (confirm := button.get("confirm")) is not None:
        for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
            errors += _text(confirm.get(key), f"{where}/confirm/{key}", limit)
    return errors


def _select(select: dict[str, Any], where: str) -> list[str]:
    errors = _text(select.get("placeholder"), f"{where}/placeholder", 150, plain=True)
    options = select.get("options", [])
    if not 0 < len(options) <= 100:
        errors.append(f"{where}: {len(options)} options")
    for j, option in enumerate(options):
        errors += _text(option.get("text"), f"{where}/options/{j}/text", 75, plain=True)
        if len(str(option.get("value", ""))) > 150:
            errors.append(f"{where}/options/{j}: value over 150")
    if (initial := select.get("initial_option")) is not None and initial not in options:
        errors.append(f"{where}: initial_option is not one of the options")
    return errors


def over_limits(blocks: list[dict[str, Any]]) -> list[str]:
    """What breaks one of Block Kit's limits (slack_sdk's and Slack's), as readable lines."""
    errors = [f"{len(blocks)} blocks, over 50"] if len(blocks) > 50 else []
    for i, block in enumerate(blocks):
        kind, where = block.get("type"), f"/blocks/{i}"
        if len(str(block.get("block_id", ""))) > 255:
            errors.append(f"{where}: block_id over 255")
        if kind == "header":
            errors += _text(block.get("text"), f"{where}/text", 150, plain=True)
        elif kind == "section":
            if "text" in block:
                errors += _text(block["text"], f"{where}/text", 3000)
            fields = block.get("fields", [])
            if "text" not in block and not fields:
                errors.append(f"{where}: neither text nor fields")
            if len(fields) > 10:
                errors.append(f"{where}: {len(fields)} fields, over 10")
            for j, f in enumerate(fields):
                errors += _text(f, f"{where}/fields/{j}", 2000)
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10:
                errors.append(f"{where}: {len(elements)} elements")
            for j, e in enumerate(elements):
                errors += _text(e, f"{where}/elements/{j}", 3000)
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 25:
                errors.append(f"{where}: {len(elements)} elements")
            for j, e in enumerate(elements):
                check = _select if e.get("type") == "static_select" else _button
                errors += check(e, f"{where}/elements/{j}")
        else:
            errors.append(f"{where}: unexpected block type {kind}")
    return errors
