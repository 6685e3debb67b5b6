"""Over-long inputs never make a builder raise and never make a message Slack refuses.

The builders compose ``slack_sdk.models.blocks`` objects, which raise
``SlackObjectFormationError`` on a text past its limit: each text is clipped before it goes in.
Every builder gets labels of 5,000 characters, 100 plan lines, 60 alerts; its blocks must pass
both the limits written out here (``over_limits``) and the Slack fake's ``validate_blocks``.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.render.approvals import APPROVE_ACTION, REJECT_ACTION, approval_request, outcome
from bot.render.blocks import OFFER_ACTION, alerts_reply, note_reply, root_message
from bot.render.enrichment import enrichment_reply
from bot.render.jobs import JOB_STOP_ACTION, render_job, render_job_done
from bot.store.job_models import JobStatus
from bot.store.models import IncidentStatus
from tests.fakes.slack.blocks import validate_blocks
from tests.render.messages import (
    LONG,
    T0,
    Alert,
    incident,
    job_run,
    long_outcome,
    long_workload,
    over_limits,
    run_view,
)

LONG_LABELS = {"alertname": LONG, "severity": LONG, "pod": LONG, "namespace": LONG}


def assert_valid(blocks: list[dict[str, Any]]) -> None:
    assert blocks
    assert over_limits(blocks) == []
    assert validate_blocks(blocks) == []


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def offers(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The root's playbook buttons (its other controls are in their own block)."""
    return [e for b in blocks if b.get("block_id") == "opsbot_playbooks" for e in b["elements"]]


def test_root_message_with_every_text_too_long() -> None:
    row = incident(
        title=LONG,
        severity=LONG,
        service=LONG,
        labels=LONG_LABELS,
        likely_cause=LONG,
        generator_url="https://prometheus/graph?g0.expr=" + LONG,
        runbook_url="https://runbooks/" + LONG,
        pagerduty_url="https://pagerduty/" + LONG,
        playbooks=[f"{'p' * 120}-{i}" for i in range(8)],
        acknowledged_at=T0,
        resolved_at=T0,
    )
    text, blocks = root_message(row, 10**12, 10**12, remediation=LONG)
    assert_valid(blocks)
    assert LONG in text  # the fallback text is not Block Kit: the outbox cuts it
    [header] = [b for b in blocks if b["type"] == "header"]
    assert header["text"]["text"].endswith("…")
    offered = offers(blocks)
    assert [b["action_id"] for b in offered] == [f"{OFFER_ACTION}_{i}" for i in range(5)]
    assert offered[0]["value"] == f"42:{'p' * 120}-0"  # a value is never cut: it names the playbook


def test_root_message_leaves_out_a_link_too_long_and_keeps_the_others() -> None:
    row = incident(
        generator_url="https://prometheus/graph?g0.expr=" + LONG,
        runbook_url="https://runbooks/fraud-scorer",
        pagerduty_url="https://pagerduty/incidents/P1",
    )
    _, blocks = root_message(row, 1, 1)
    assert_valid(blocks)
    [context] = [b for b in blocks if b["type"] == "context"]
    assert context["elements"][0]["text"] == (
        "<https://runbooks/fraud-scorer|Runbook> · <https://pagerduty/incidents/P1|PagerDuty>"
    )


def test_root_message_offers_no_playbook_whose_name_a_button_value_cannot_hold() -> None:
    row = incident(playbooks=[LONG, "restart-pods"])
    _, blocks = root_message(row, 1, 1)
    assert_valid(blocks)
    assert [(b["action_id"], b["value"]) for b in offers(blocks)] == [
        (f"{OFFER_ACTION}_1", "42:restart-pods")
    ]
    _, blocks = root_message(incident(playbooks=[LONG]), 1, 1)
    assert_valid(blocks)
    assert not any(b.get("block_id") == "opsbot_playbooks" for b in blocks)


def test_alerts_reply_with_60_alerts_of_long_labels() -> None:
    alerts = [
        Alert(
            alertname=LONG,
            fingerprint=LONG,
            status="firing" if i % 2 else "resolved",
            labels=LONG_LABELS,
            annotations={"summary": LONG, "description": LONG},
        )
        for i in range(60)
    ]
    text, blocks = alerts_reply(alerts)
    assert_valid(blocks)
    assert text == "60 alert(s): 30 firing, 30 resolved"
    assert blocks[-1]["text"]["text"].endswith("…and 40 more")


def test_alerts_reply_of_alerts_without_names_or_labels() -> None:
    _, blocks = alerts_reply([Alert(alertname="", fingerprint="f" * 64, status="firing")] * 60)
    assert_valid(blocks)


def test_note_reply_too_long() -> None:
    text, blocks = note_reply(LONG)
    assert_valid(blocks)
    assert text == LONG


@pytest.mark.parametrize(
    "plan",
    [
        {"summary": LONG, "lines": [LONG] * 100},
        {"summary": "short", "lines": [f"line {i}" for i in range(10_000)]},
        {"lines": [LONG] * 100},
    ],
)
def test_approval_request_with_a_long_plan_keeps_its_buttons(plan: dict[str, Any]) -> None:
    view = run_view(action=LONG, plan=plan)
    _, blocks = approval_request(view, LONG, "tok_0123456789abcdefghij")
    assert_valid(blocks)
    assert blocks[-1]["block_id"] == "opsbot_approval"
    assert [(b["action_id"], b["value"]) for b in buttons(blocks)] == [
        (APPROVE_ACTION, "tok_0123456789abcdefghij"),
        (REJECT_ACTION, "tok_0123456789abcdefghij"),
    ]


def test_approval_request_says_when_the_plan_is_cut() -> None:
    _, blocks = approval_request(run_view(plan={"lines": [LONG] * 100}), "U1", "tok")
    assert len(blocks) == 50
    assert blocks[-3]["text"]["text"] == (
        "_…the plan goes on: 100 lines in all, too many to show here._"
    )


@pytest.mark.parametrize("status", ["succeeded", "failed", "refused", "rejected", "odd"])
def test_outcome_with_a_long_message_and_plan(status: str) -> None:
    view = run_view(status=status, message=LONG, plan={"summary": LONG, "lines": [LONG] * 100})
    text, blocks = outcome(view, who=LONG)
    assert_valid(blocks)
    assert text.startswith(LONG)


def test_enrichment_reply_with_60_of_everything_too_long() -> None:
    _, blocks = enrichment_reply(incident(), long_outcome())
    assert_valid(blocks)
    assert len(blocks) == 50


def test_enrichment_reply_pods_part_with_every_text_too_long() -> None:
    outcome = long_outcome()
    outcome.results = {"suspects": outcome.results["suspects"], "workload": long_workload()}
    _, blocks = enrichment_reply(incident(), outcome)
    assert_valid(blocks)
    pods = [b for b in blocks if b["type"] == "section" and "Pods:" in b["text"]["text"]]
    collapsed = [b for b in blocks if b.get("expand") is False]
    assert len(pods) == 1
    assert 2 <= len(collapsed) <= 3  # the details (at most two sections) and the log
    assert collapsed[-1]["text"]["text"].endswith("\n```")


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.FAILED])
def test_render_job_with_every_text_too_long(status: str) -> None:
    row = job_run(
        status=status,
        kind=LONG,
        template=LONG,
        submission_id=LONG,
        requested_by=LONG,
        stop_requested_by=LONG,
        message=LONG,
        log_tail=LONG * 3,
        progress={"done": 1, "total": 2, "unit": LONG, "metrics": {LONG: 1}},
        resources={"cpus": 10**400, "gpus": 1e308, "memory_gb": 1},
        cost_per_gpu_hour=1e308,
    )
    _, blocks = render_job(row, T0)
    assert_valid(blocks)
    assert [b["action_id"] for b in buttons(blocks)] == (
        [JOB_STOP_ACTION] if status in JobStatus.ACTIVE else []
    )


def test_render_job_succeeded_with_a_long_manifest() -> None:
    manifest = {
        "model_dir": LONG,
        "model_version": LONG,
        "output": {"path": LONG, "rows": 10**12},
        "metrics": {f"{LONG}{i}": i for i in range(60)},
        "timings": {f"{LONG}{i}": i for i in range(60)},
    }
    row = job_run(status=JobStatus.SUCCEEDED, ended_at=T0, manifest=manifest, message=LONG)
    _, blocks = render_job(row, T0)
    assert_valid(blocks)


@pytest.mark.parametrize("status", [*JobStatus.FINAL, "odd"])
def test_render_job_done_with_every_text_too_long(status: str) -> None:
    row = job_run(
        status=status,
        kind=LONG,
        template=LONG,
        submission_id=LONG,
        message=LONG,
        stop_requested_by=LONG if status == JobStatus.STOPPED else None,
        ended_at=T0,
        manifest={"model_version": LONG, "metrics": {LONG: 1}, "output": {"rows": 1}},
    )
    _, blocks = render_job_done(row)
    assert_valid(blocks)


def test_resolved_incident_root_is_valid_and_offers_nothing() -> None:
    row = incident(status=IncidentStatus.RESOLVED, resolved_at=T0, playbooks=["restart-pods"])
    _, blocks = root_message(row, 0, 3)
    assert_valid(blocks)
    assert buttons(blocks) == []
