"""The App Home view: what Slack's views.publish accepts (the emulator's own view validation),
however long the lists and texts; the approval and Stop buttons are the messages' own; the same
facts give the same view, and the console's lines say the same."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.home.facts import HomeFacts, MyIncident, RecentSummary, ServiceOnCall, WaitingApproval
from bot.render.approvals import APPROVE_ACTION, REJECT_ACTION
from bot.render.home import MAX_APPROVALS, MAX_INCIDENTS, MAX_JOBS, home_lines, home_view
from bot.render.jobs import JOB_STOP_ACTION
from tests.fakes.slack.views import MAX_VIEW_BYTES, validate_view
from tests.render.messages import LONG, T0, job_run


def my_incident(n: int, title: str = "fraud-scorer p99 latency", **fields: object) -> MyIncident:
    values: dict[str, object] = {
        "id": n,
        "title": title,
        "status": "firing",
        "severity": "sev2",
        "service": "fraud-scorer",
        "opened_at": T0,
        "leads": n % 2 == 0,
        "link": f"https://slack.com/archives/C0INCIDENT/p{1700000000 + n}000100",
    }
    values.update(fields)
    return MyIncident(**values)  # type: ignore[arg-type]


def waiting(n: int, summary: str = "Roll back ml-serving/fraud-scorer") -> WaitingApproval:
    return WaitingApproval(
        token=f"tok{n:04d}",
        run_id=100 + n,
        action="rollback_deployment",
        summary=summary,
        requested_by="U0BOB",
        incident_id=n,
        expires_at=T0 + timedelta(minutes=15),
    )


def full_home(n: int = 60, text: str = "fraud-scorer p99 latency") -> HomeFacts:
    return HomeFacts(
        user="U0ALICE",
        incidents=tuple(my_incident(i + 1, text) for i in range(n)),
        approvals=tuple(waiting(i, text) for i in range(n)),
        jobs=tuple(job_run(id=i + 1, template=text[:64]) for i in range(n)),
        summaries=tuple(
            RecentSummary(i + 1, text, T0, final=True, link="https://slack.com/archives/C1/p1")
            for i in range(5)
        ),
        oncall=tuple(ServiceOnCall(f"{text[:100]}-{i}", text, paged=True) for i in range(n)),
        pagerduty=True,
    )


def mrkdwn_texts(value: object) -> list[str]:
    """Every mrkdwn text in ``value`` (plain text, a confirm dialog's, is shown as it is)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [str(value["text"])]
        return [t for v in value.values() for t in mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_texts(v)]
    return []


def buttons(view: dict[str, object]) -> list[dict[str, object]]:
    found = []
    for block in view["blocks"]:  # type: ignore[attr-defined]
        found += block.get("elements") or []
        if block.get("accessory"):
            found.append(block["accessory"])
    return [e for e in found if e.get("type") == "button"]


def test_an_empty_home_says_so_in_every_section() -> None:
    view = home_view(HomeFacts(user="U0ALICE"))
    assert validate_view(view) == []
    text = json.dumps(view)
    assert "no open incident you lead or acted on" in text
    assert "nothing waits for your approval" in text
    assert "no Ray job of yours is running" in text
    assert "PagerDuty is not configured" in text


def test_full_lists_are_capped_and_say_how_many_more() -> None:
    view = home_view(full_home(60), notice="Done: rolled back", metadata="a" * 64)
    assert validate_view(view) == []
    assert len(view["blocks"]) <= 100
    text = json.dumps(view)
    assert f"and {60 - MAX_INCIDENTS} more" in text
    assert f"and {60 - MAX_APPROVALS} more" in text
    assert f"and {60 - MAX_JOBS} more" in text
    assert view["private_metadata"] == "a" * 64


def test_texts_too_long_and_hostile_still_make_a_view_slack_takes() -> None:
    hostile = "<!channel> *bold* <https://evil|click> &amp; " + LONG
    facts = full_home(60, hostile)
    facts = HomeFacts(
        user=facts.user,
        incidents=tuple(
            my_incident(i + 1, hostile, severity=hostile, service=hostile, link="https://x/" + LONG)
            for i in range(60)
        ),
        approvals=facts.approvals,
        jobs=facts.jobs,
        summaries=facts.summaries,
        oncall=facts.oncall,
        pagerduty=True,
    )
    view = home_view(facts)
    raw = json.dumps(view)
    assert validate_view(view) == []
    assert len(raw.encode()) < MAX_VIEW_BYTES
    mrkdwn = json.dumps(list(mrkdwn_texts(view)))
    assert "<!channel>" not in mrkdwn
    assert "<https://evil|click>" not in mrkdwn


def test_the_buttons_are_the_approval_and_job_messages_own() -> None:
    facts = HomeFacts(user="U0ALICE", approvals=(waiting(1), waiting(2)), jobs=(job_run(id=7),))
    view = home_view(facts)
    assert validate_view(view) == []
    found = [(b["action_id"], b["value"]) for b in buttons(view)]
    assert found == [
        (APPROVE_ACTION, "tok0001"),
        (REJECT_ACTION, "tok0001"),
        (APPROVE_ACTION, "tok0002"),
        (REJECT_ACTION, "tok0002"),
        (JOB_STOP_ACTION, "7"),
    ]
    [stop] = [b for b in buttons(view) if b["action_id"] == JOB_STOP_ACTION]
    assert stop["confirm"]["title"]["text"] == "Stop this job?"


def test_the_same_facts_give_the_same_view() -> None:
    assert json.dumps(home_view(full_home(8))) == json.dumps(home_view(full_home(8)))
    assert home_view(full_home(8)) != home_view(full_home(9))


def test_the_console_lines_hold_every_section_in_full() -> None:
    lines = home_lines(full_home(30))
    text = "\n".join(lines)
    assert sum(1 for line in lines if line.startswith("  #") and "opened" in line) == 30
    assert text.count("approve tok") == 30
    assert "stop 30" in text
    assert "Latest summaries:" in text
    assert "On call for your services:" in text
    empty = "\n".join(home_lines(HomeFacts(user="U0ALICE")))
    assert "PagerDuty is not configured" in empty
