"""The root's controls in Slack, through Bolt: declare with `/ops declare`, then Acknowledge,
I'll lead, the severity select and Resolve, each as the person who clicked, each answered
privately, each on the incident; the root keeps only the controls that still apply."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from bot.store.models import Incident, IncidentStatus, TimelineEvent
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.slack_requests import click, post, slash_command

CATALOG = """
services:
  fraud-scorer: {namespace: ml-serving}
severities: [sev1, sev2, sev3]
policy:
  rules:
    - actions: [set_severity]
      run: [U0ALICE, U0ONCALL]
      approval: none
"""


@pytest.fixture
async def client(slack_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(slack_app(CATALOG)) as c:
        yield c


def the_incident(client: httpx.AsyncClient) -> Incident:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        [incident] = session.exec(select(Incident)).all()
        return incident


def timeline(client: httpx.AsyncClient) -> list[str]:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        events = session.exec(select(TimelineEvent).order_by(col(TimelineEvent.id))).all()
        return [event.kind for event in events]


def select_click(action_id: str, value: str, user: str, response_url: str) -> bytes:
    """A ``block_actions`` body for a choice in a ``static_select`` (the click's shape, with the
    chosen option instead of a button's value)."""
    body = click(action_id, value, user, response_url)
    form = dict(pair.split("=", 1) for pair in body.decode().split("&"))
    import urllib.parse

    payload = json.loads(urllib.parse.unquote_plus(form["payload"]))
    [action] = payload["actions"]
    del action["value"]
    action["type"] = "static_select"
    action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


async def answer(slack: SlackEmulator, name: str) -> dict[str, object]:
    await slack.await_for(lambda: len(slack.responses(name)) == 1, timeout=10)
    [reply] = slack.responses(name)
    assert reply["response_type"] == "ephemeral"
    return reply


async def test_declare_then_every_control_as_the_clicker(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    await post(
        client,
        slash_command(
            "declare --service fraud-scorer --severity sev3 precision looks off",
            slack.response_url("declare"),
        ),
    )
    await slack.await_for(lambda: len(slack.responses("declare")) == 1, timeout=10)
    incident = the_incident(client)
    n = incident.id
    assert (incident.title, incident.source, incident.severity) == (
        "precision looks off",
        "declared",
        "sev3",
    )

    await post(client, click("opsbot_ack", str(n), "U0ALICE", slack.response_url("ack")))
    assert "acknowledged by <@U0ALICE>" in str((await answer(slack, "ack"))["text"])
    await post(client, click("opsbot_lead", str(n), "U0BOB", slack.response_url("lead")))
    assert "U0BOB leads incident" in str((await answer(slack, "lead"))["text"])
    sev = select_click("opsbot_severity", f"{n}:sev1", "U0ALICE", slack.response_url("sev"))
    await post(client, sev)
    assert "is now sev1" in str((await answer(slack, "sev"))["text"])
    # The policy names set_severity: Mallory is refused, privately, and nothing changes.
    refused = select_click("opsbot_severity", f"{n}:sev2", "U0MALLORY", slack.response_url("m"))
    await post(client, refused)
    assert "U0MALLORY may not run set_severity" in str((await answer(slack, "m"))["text"])
    # A value that is not opsbot's changes nothing.
    await post(client, click("opsbot_ack", "12; drop", "U0ALICE", slack.response_url("forged")))
    assert "not one of opsbot's" in str((await answer(slack, "forged"))["text"])

    incident = the_incident(client)
    assert (incident.status, incident.lead, incident.severity) == (
        IncidentStatus.ACKNOWLEDGED,
        "U0BOB",
        "sev1",
    )
    assert {"incident_declared", "lead_changed", "severity_changed"} <= set(timeline(client))

    await post(client, click("opsbot_resolve", str(n), "U0ALICE", slack.response_url("res")))
    assert "resolved by <@U0ALICE>" in str((await answer(slack, "res"))["text"])
    assert the_incident(client).status == IncidentStatus.RESOLVED


async def test_the_root_shows_only_the_controls_that_apply(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    await post(client, slash_command("declare --severity sev2 db slow", slack.response_url("d")))
    await slack.await_for(lambda: len(slack.responses("d")) == 1, timeout=10)
    await rt.sender.drain_once()

    def controls() -> list[str]:
        [root] = slack.messages("C0INCIDENT")
        [block] = [b for b in root["blocks"] if b.get("block_id") == "opsbot_incident"]
        return [e["action_id"] for e in block["elements"]]

    assert controls() == ["opsbot_ack", "opsbot_resolve", "opsbot_lead", "opsbot_severity"]
    n = the_incident(client).id
    await post(client, click("opsbot_ack", str(n), "U0ALICE", slack.response_url("a")))
    await answer(slack, "a")
    await post(client, click("opsbot_lead", str(n), "U0ALICE", slack.response_url("l")))
    await answer(slack, "l")
    await rt.sender.drain_once()
    assert controls() == ["opsbot_resolve", "opsbot_severity"]
