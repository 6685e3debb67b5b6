"""The App Home tab in Slack, through Bolt and the Slack emulator: opening it publishes the
opener's home (their incident, the approval waiting for them); Approve clicked on the tab runs
through the approval message's own listener, once, and the tab is redrawn with what happened;
someone else's tab shows neither; `/ops home` says the same as text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from bot.render.approvals import APPROVE_ACTION
from bot.store.home_models import HomeView
from bot.store.models import Incident, TimelineEvent
from tests.fakes.slack.api import SlackEmulator
from tests.fakes.slack.views import validate_view
from tests.support.asgi import asgi_client, engine_of
from tests.support.slack_requests import (
    APP_ID,
    TEAM,
    VERIFICATION_TOKEN,
    app_home_opened,
    click,
    interaction_body,
    post,
    post_event,
    slash_command,
)

CATALOG = """
services:
  fraud-scorer: {namespace: ml-serving}
severities: [sev1, sev2, sev3]
policy:
  rules:
    - actions: [set_severity]
      run: [U0ONCALL]
      approve: [U0ALICE]
"""


@pytest.fixture
async def client(slack_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(slack_app(CATALOG)) as c:
        yield c


def home_click(slack: SlackEmulator, user: str, action_id: str) -> bytes:
    """``user`` clicks the ``action_id`` button on their App Home tab: Slack's block_actions
    from a view (container ``view``, the view itself, no channel and no response_url)."""
    view = slack.home(user)
    assert view is not None
    for block in view["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                break
        else:
            continue
        break
    else:
        raise AssertionError(f"no {action_id} on {user}'s home")
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEST"},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": slack.new_trigger_id(user),
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block["block_id"],
                "text": element["text"],
                "value": element["value"],
                "action_ts": "1.000003",
            }
        ],
    }
    return interaction_body(payload)


def home_text(slack: SlackEmulator, user: str) -> str:
    view = slack.home(user)
    assert view is not None
    return json.dumps(view["blocks"])


def published_at(client: httpx.AsyncClient, user: str) -> datetime | None:
    with Session(engine_of(client)) as session:
        row = session.get(HomeView, user)
        return row.published_at if row is not None else None


def kinds(client: httpx.AsyncClient, kind: str) -> int:
    with Session(engine_of(client)) as session:
        events = session.exec(select(TimelineEvent).where(col(TimelineEvent.kind) == kind)).all()
        return len(events)


async def test_the_home_shows_my_incident_and_approval_and_approve_runs_once(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    # U0ONCALL declares; Alice takes the lead; U0ONCALL asks for sev1, which Alice approves.
    await post(
        client,
        slash_command(
            "declare --service fraud-scorer --severity sev3 scores drift", slack.response_url("d")
        ),
    )
    await slack.await_for(lambda: len(slack.responses("d")) == 1, timeout=10)
    with Session(engine_of(client)) as session:
        [incident] = session.exec(select(Incident)).all()
    n = incident.id
    await post(client, click("opsbot_lead", str(n), "U0ALICE", slack.response_url("lead")))
    await slack.await_for(lambda: len(slack.responses("lead")) == 1, timeout=10)
    await post(client, slash_command(f"severity sev1 #{n}", slack.response_url("sev")))
    await slack.await_for(lambda: len(slack.responses("sev")) == 1, timeout=10)
    [asked] = slack.responses("sev")
    assert "Approval needed" in str(asked["text"])

    await post_event(client, app_home_opened("U0ALICE"), "EvHOME1")
    await slack.await_for(lambda: slack.home("U0ALICE") is not None, timeout=10)
    alice = slack.home("U0ALICE")
    assert alice is not None
    assert validate_view({"type": "home", "blocks": alice["blocks"]}) == []
    shown = home_text(slack, "U0ALICE")
    assert f"#{n} scores drift" in shown
    assert "you lead it" in shown
    assert "Approvals waiting for you* (1)" in shown
    assert APPROVE_ACTION in shown
    # Mallory may not approve and has no incident: neither is on her tab.
    await post_event(client, app_home_opened("U0MALLORY"), "EvHOME2")
    await slack.await_for(lambda: slack.home("U0MALLORY") is not None, timeout=10)
    mallory = home_text(slack, "U0MALLORY")
    assert "scores drift" not in mallory
    assert APPROVE_ACTION not in mallory

    approve = home_click(slack, "U0ALICE", APPROVE_ACTION)
    await post(client, approve)
    await slack.await_for(lambda: "Approvals waiting for you* (0)" in home_text(slack, "U0ALICE"))
    assert "approved by <@U0ALICE>" in home_text(slack, "U0ALICE")  # what happened, on top
    # The same click again (a double click, Slack's retry): answered on the tab, run once.
    await post(client, approve)
    await slack.await_for(lambda: "Already approved by <@U0ALICE>" in home_text(slack, "U0ALICE"))
    with Session(engine_of(client)) as session:
        assert session.get(Incident, n).severity == "sev1"  # type: ignore[union-attr]
    assert kinds(client, "action_approved") == 1
    assert kinds(client, "severity_changed") == 1
    # Nothing went to a response URL (a tab has none): the answers were on the tab.
    assert not [r for r in slack.responses() if "pproved by" in str(r)]


async def test_opening_the_messages_tab_publishes_nothing(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    await post_event(client, app_home_opened("U0ALICE", tab="messages"), "EvMSG1")
    await post_event(client, app_home_opened("U0ALICE"), "EvHOME3")
    await slack.await_for(lambda: slack.home("U0ALICE") is not None, timeout=10)
    assert len(slack.calls("views.publish")) == 1
    first = published_at(client, "U0ALICE")
    # Opening it again while it shows the current content publishes nothing (the opening is
    # recorded as seen: published_at moves on).
    await post_event(client, app_home_opened("U0ALICE", slack.home("U0ALICE")), "EvHOME4")
    await slack.await_for(lambda: published_at(client, "U0ALICE") != first, timeout=10)
    assert len(slack.calls("views.publish")) == 1


async def test_ops_home_says_the_same_as_text(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    await post(
        client, slash_command("declare --severity sev3 queue backs up", slack.response_url("d"))
    )
    await slack.await_for(lambda: len(slack.responses("d")) == 1, timeout=10)
    await post(client, slash_command("home", slack.response_url("home")))
    await slack.await_for(lambda: len(slack.responses("home")) == 1, timeout=10)
    [answer] = slack.responses("home")
    assert answer["response_type"] == "ephemeral"
    text = str(answer["text"])
    assert "Open incidents you lead or acted on (1):" in text
    assert "queue backs up" in text
    assert "you acted on it" in text
    assert "Approvals waiting for you (0):" in text
    assert "PagerDuty is not configured" in text
