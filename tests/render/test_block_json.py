"""The exact JSON of opsbot's messages, pinned.

The builders compose ``slack_sdk.models.blocks`` objects; their ``to_dict`` decides which keys
come out. These pins catch what a slack_sdk upgrade (or a bare string where a text object
belongs) would change: an ``"emoji": true`` on plain text, a dropped or added key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.render.approvals import approval_request, outcome
from bot.render.blocks import alerts_reply, note_reply, root_message
from bot.render.jobs import render_job, render_job_done
from bot.store.job_models import JobStatus
from bot.store.models import IncidentStatus
from tests.render.messages import T0, Alert, incident, job_run, run_view


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def test_approval_request() -> None:
    text, blocks = approval_request(run_view(), "U0ALICE", "tok_abc")
    assert text == "Approval needed: Roll back ml-serving/fraud-scorer to rev 6 (asked by U0ALICE)"
    assert blocks == [
        section(":raised_hand: *Approval needed* — Roll back ml-serving/fraud-scorer to rev 6"),
        section("• kubectl rollout undo &lt;d&gt;\n• wait &amp; see"),
        {"type": "context", "elements": [mrkdwn("`rollback` asked by <@U0ALICE>")]},
        {
            "type": "actions",
            "block_id": "opsbot_approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": "opsbot_approve",
                    "style": "danger",
                    "text": plain("Approve"),
                    "value": "tok_abc",
                },
                {
                    "type": "button",
                    "action_id": "opsbot_reject",
                    "text": plain("Reject"),
                    "value": "tok_abc",
                },
            ],
        },
    ]


def test_outcome() -> None:
    text, blocks = outcome(run_view(status="succeeded", message="Rolled back"), who="U0BOB")
    assert text == "Rolled back (approved by <@U0BOB>)"
    assert blocks == [
        section(
            ":white_check_mark: Rolled back (approved by <@U0BOB>)\n"
            "• kubectl rollout undo &lt;d&gt;\n• wait &amp; see"
        )
    ]


def test_root_message() -> None:
    row = incident(
        status=IncidentStatus.ACKNOWLEDGED,
        title="FraudScorerErrors <b>&",
        generator_url="http://prom:9090/graph?g0.expr=rate(x%7Cy)|>",
        runbook_url="https://rb/fraud",
        pagerduty_url="ftp://not-a-link",
        likely_cause="model fraud-scorer 1.4.2 deployed by <ci>",
        playbooks=["rollback-model-deploy", "restart-pods"],
        acknowledged_at=T0 + timedelta(minutes=3),
    )
    text, blocks = root_message(row, 3, 5, "rollback-model-deploy: waiting for approval")
    assert text == (
        "ACKNOWLEDGED: #42 FraudScorerErrors &lt;b&gt;&amp; (severity critical, service "
        "fraud-scorer) Likely cause: model fraud-scorer 1.4.2 deployed by &lt;ci&gt;"
    )
    started = "<!date^1772452800^{date_short_pretty} {time_secs}|2026-03-02 12:00:00 UTC>"
    acked = "<!date^1772452980^{date_short_pretty} {time_secs}|2026-03-02 12:03:00 UTC>"
    assert blocks == [
        {"type": "header", "text": plain("#42 FraudScorerErrors <b>&")},
        {
            "type": "section",
            "fields": [
                mrkdwn("*Status*\n:large_orange_circle: acknowledged"),
                mrkdwn("*Severity*\ncritical"),
                mrkdwn("*Service*\nfraud-scorer"),
                mrkdwn(f"*Started*\n{started}"),
                mrkdwn("*Alerts*\n3 firing / 5 total"),
                mrkdwn(f"*Acknowledged*\n{acked}"),
            ],
        },
        section(":mag: *Likely cause:* model fraud-scorer 1.4.2 deployed by &lt;ci&gt;"),
        section(":gear: *Playbook* rollback-model-deploy: waiting for approval"),
        {
            "type": "context",
            "elements": [
                mrkdwn(
                    "<http://prom:9090/graph?g0.expr=rate(x%7Cy)%7C%3E|Graph> · "
                    "<https://rb/fraud|Runbook>"
                )
            ],
        },
        {
            "type": "actions",
            "block_id": "opsbot_playbooks",
            "elements": [
                {
                    "type": "button",
                    "action_id": "opsbot_offer_0",
                    "text": plain("Run rollback-model-deploy"),
                    "value": "42:rollback-model-deploy",
                },
                {
                    "type": "button",
                    "action_id": "opsbot_offer_1",
                    "text": plain("Run restart-pods"),
                    "value": "42:restart-pods",
                },
            ],
        },
        {
            "type": "actions",
            "block_id": "opsbot_incident",
            "elements": [
                {
                    "type": "button",
                    "action_id": "opsbot_resolve",
                    "text": plain("Resolve"),
                    "value": "42",
                    "confirm": {
                        "title": plain("Resolve the incident?"),
                        "text": plain("Its summary is written once it is resolved."),
                        "confirm": plain("Resolve"),
                        "deny": plain("Not yet"),
                    },
                },
                {
                    "type": "button",
                    "action_id": "opsbot_lead",
                    "text": plain("I'll lead"),
                    "value": "42",
                },
                {
                    "type": "static_select",
                    "action_id": "opsbot_silence",
                    "placeholder": plain("Silence alerts…"),
                    "options": [
                        {"text": plain("1 h"), "value": "42:1h"},
                        {"text": plain("4 h"), "value": "42:4h"},
                        {"text": plain("until Monday 09:00 UTC"), "value": "42:monday"},
                        {"text": plain("Custom…"), "value": "42:custom"},
                    ],
                },
            ],
        },
    ]


def test_root_controls_follow_the_incident() -> None:
    firing = incident(severity="sev2")
    _, blocks = root_message(firing, 1, 1, severities=["sev1", "sev2", "sev3"])
    [controls] = [b for b in blocks if b.get("block_id") == "opsbot_incident"]
    ack, resolve, lead, select, silence = controls["elements"]
    assert silence["action_id"] == "opsbot_silence"  # an incident from Alertmanager
    assert (ack["action_id"], ack["style"], ack["value"]) == ("opsbot_ack", "primary", "42")
    assert (resolve["action_id"], lead["action_id"]) == ("opsbot_resolve", "opsbot_lead")
    assert select == {
        "type": "static_select",
        "action_id": "opsbot_severity",
        "placeholder": plain("Severity"),
        "options": [
            {"text": plain(level), "value": f"42:{level}"} for level in ("sev1", "sev2", "sev3")
        ],
        "initial_option": {"text": plain("sev2"), "value": "42:sev2"},
    }
    # Led, and a severity the catalog does not list (an alert's label): no lead button, and
    # the select shows no current choice.
    # Led, declared by hand (nothing to silence), a severity the catalog does not list (an
    # alert's label): no lead button, no silence, and the select shows no current choice. Its
    # service is paged by PagerDuty: Page.
    led = incident(
        severity="critical",
        lead="U0ALICE",
        status=IncidentStatus.ACKNOWLEDGED,
        source="declared",
    )
    _, blocks = root_message(led, 1, 1, severities=["sev1"], paged={"fraud-scorer"})
    [controls] = [b for b in blocks if b.get("block_id") == "opsbot_incident"]
    assert [e["action_id"] for e in controls["elements"]] == [
        "opsbot_resolve",
        "opsbot_severity",
        "opsbot_page",
    ]
    assert "initial_option" not in controls["elements"][1]
    assert "*Lead*\n<@U0ALICE>" in [f["text"] for f in blocks[1]["fields"]]
    _, blocks = root_message(incident(status=IncidentStatus.RESOLVED), 1, 1, severities=["sev1"])
    assert not any(b["type"] == "actions" for b in blocks)


def test_alerts_and_note_replies() -> None:
    alert = Alert(
        alertname="HighLatency",
        fingerprint="fp1",
        status="firing",
        labels={"alertname": "HighLatency", "severity": "page", "pod": "a-1"},
        annotations={"summary": "p95 <high>"},
    )
    assert alerts_reply([alert]) == (
        "1 alert(s): 1 firing, 0 resolved",
        [section(":fire: *HighLatency* firing — p95 &lt;high&gt;\n      `pod=a-1`")],
    )
    assert note_reply(":memo: a note") == (":memo: a note", [section(":memo: a note")])


def test_running_job_and_its_stop_button() -> None:
    row = job_run(progress={"done": 3, "total": 10, "unit": "epoch"})
    _, blocks = render_job(row, T0)
    assert blocks[0] == section("▶️ *Training* `fraud-scorer`")
    deadline = "<!date^1772456400^{date_short_pretty} {time_secs}|2026-03-02 13:00:00 UTC>"
    assert blocks[1] == {
        "type": "section",
        "fields": [
            mrkdwn("*Job*\n`opsbot-train-fraud-scorer-7`"),
            mrkdwn("*Status*\n▶️ running"),
            mrkdwn("*Started by*\n<@U0ALICE>"),
            mrkdwn("*Resources*\n2 CPU · 1 GPU · 4 GB memory"),
            mrkdwn("*Elapsed*\n1m00s"),
            mrkdwn("*ETA*\n~2m20s"),
            mrkdwn(f"*Deadline*\n{deadline}"),
        ],
    }
    assert blocks[2] == section("▓▓▓▓▓▓░░░░░░░░░░░░░░ 30%  *3/10* epoch")
    assert blocks[3] == {
        "type": "actions",
        "block_id": "opsbot_job_controls",
        "elements": [
            {
                "type": "button",
                "action_id": "opsbot_job_stop",
                "text": plain("Stop"),
                "style": "danger",
                "value": "7",
                "confirm": {
                    "title": plain("Stop this job?"),
                    "text": plain("Training fraud-scorer will be stopped on the cluster."),
                    "confirm": plain("Stop it"),
                    "deny": plain("Keep running"),
                    "style": "danger",
                },
            }
        ],
    }
    assert len(blocks) == 4


def test_job_done() -> None:
    row = job_run(status=JobStatus.STOPPED, stop_requested_by="U0BOB")
    assert render_job_done(row) == (
        "⏹ Training fraud-scorer stopped by <@U0BOB>",
        [
            section("⏹ Training fraud-scorer stopped by <@U0BOB>"),
            {"type": "context", "elements": [mrkdwn("job `opsbot-train-fraud-scorer-7`")]},
        ],
    )
