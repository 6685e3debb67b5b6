"""Declaring from Slack: `/ops declare` alone and the message shortcut open the form through
`views.open` (the Slack emulator checks the trigger and the view as Slack does); submitting it
opens an incident as an alert would; a refusal is shown in the form, which stays open."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from bot.store.models import Incident, OutboxKind, OutboxMessage, TimelineEvent
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client, engine_of
from tests.support.slack_requests import (
    message_shortcut,
    post,
    post_message,
    signed_headers,
    slash_command,
    view_submission,
    with_trigger_id,
)

CATALOG = """
services:
  fraud-scorer: {namespace: ml-serving, channel: C0FRAUD}
  search: {}
severities: [sev1, sev2, sev3]
policy:
  rules:
    - actions: [declare_incident]
      run: [U0ONCALL, U0ALICE]
      approval: none
"""


@pytest.fixture
async def client(slack_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(slack_app(CATALOG)) as c:
        yield c


async def submit(client: httpx.AsyncClient, body: bytes) -> dict[str, Any] | None:
    """Post a view submission; Slack closes the form on an empty 200, or shows the errors."""
    response = await client.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    return response.json() if response.content else None


async def opened(slack: SlackEmulator, user: str, count: int = 1) -> dict[str, Any]:
    await slack.await_for(lambda: len(slack.modals(user)) == count, timeout=10)
    return slack.modals(user)[-1]


async def test_the_form_declares_an_incident_with_its_own_thread(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    trigger = slack.new_trigger_id("U0ONCALL")
    await post(client, with_trigger_id(slash_command("declare", slack.response_url()), trigger))
    modal = await opened(slack, "U0ONCALL")
    view = modal["view"]
    assert view["callback_id"] == "opsbot_declare"
    services = next(b for b in view["blocks"] if b["block_id"] == "service")
    assert [o["value"] for o in services["element"]["options"]] == ["-", "fraud-scorer", "search"]

    values = {
        "title": "fraud precision looks off",
        "service": "fraud-scorer",
        "severity": "sev2",
        "description": "precision@k fell from 0.91 to 0.62 since 09:10",
    }
    assert await submit(client, view_submission(slack, modal["id"], "U0ONCALL", values)) is None
    with Session(engine_of(client)) as session:
        [incident] = session.exec(select(Incident)).all()
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        events = session.exec(select(TimelineEvent)).all()
    assert (incident.title, incident.service, incident.severity, incident.source) == (
        "fraud precision looks off",
        "fraud-scorer",
        "sev2",
        "declared",
    )
    assert [(r.kind, r.channel) for r in rows] == [
        (OutboxKind.ROOT_POST, "C0FRAUD"),
        (OutboxKind.REPLY, "C0FRAUD"),
    ]
    assert "precision@k fell" in rows[1].text
    assert [e.kind for e in events] == ["incident_declared"]
    # The root lands in the service's channel, with its controls.
    await client.app.state.runtime.sender.drain_once()  # type: ignore[attr-defined]
    [root] = slack.messages("C0FRAUD")
    assert any(b.get("block_id") == "opsbot_incident" for b in root["blocks"])


async def test_a_refused_declaration_is_shown_in_the_form(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    trigger = slack.new_trigger_id("U0ONCALL")
    await post(client, with_trigger_id(slash_command("declare", slack.response_url()), trigger))
    modal = await opened(slack, "U0ONCALL")
    # Only the one it opened for can submit it; Mallory opens her own and is refused there.
    trigger = slack.new_trigger_id("U0MALLORY")
    body = with_trigger_id(slash_command("declare", slack.response_url("m")), trigger)
    body = body.replace(b"user_id=U0ONCALL", b"user_id=U0MALLORY")
    await post(client, body)
    mine = await opened(slack, "U0MALLORY")
    answer = await submit(client, view_submission(slack, mine["id"], "U0MALLORY", {"title": "x"}))
    assert answer is not None
    assert answer["response_action"] == "errors"
    assert "U0MALLORY may not run declare_incident" in answer["errors"]["title"]
    with Session(engine_of(client)) as session:
        assert session.exec(select(Incident)).all() == []
    assert modal["id"] != mine["id"]


async def test_the_message_shortcut_quotes_the_message(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    ts = await post_message(slack, "fraud precision looks off\nsee the dashboard", "C0FRAUD")
    trigger = slack.new_trigger_id("U0ALICE")
    body = message_shortcut(
        "opsbot_declare_from_message",
        "U0ALICE",
        "C0FRAUD",
        ts,
        "fraud precision looks off\nsee the dashboard",
        trigger,
        slack.response_url("s"),
        author="U0BOB",
    )
    await post(client, body)
    modal = await opened(slack, "U0ALICE")
    view = modal["view"]
    title = next(b for b in view["blocks"] if b.get("block_id") == "title")
    assert title["element"]["initial_value"] == "fraud precision looks off"
    assert "see the dashboard" in json.dumps(view["blocks"][0])
    assert await submit(client, view_submission(slack, modal["id"], "U0ALICE", {})) is None
    with Session(engine_of(client)) as session:
        [incident] = session.exec(select(Incident)).all()
        [quote] = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.REPLY)
        ).all()
    assert incident.title == "fraud precision looks off"
    assert incident.severity == "sev3"  # the form's default: the lowest
    assert quote.text.startswith(
        "> fraud precision looks off\n> see the dashboard\n— quoted from <@U0BOB>"
    )
    assert "<@U0BOB>" in quote.text
    assert f"https://opsbot-test.slack.com/archives/C0FRAUD/p{ts.replace('.', '')}" in quote.text


async def test_an_expired_trigger_opens_nothing(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    trigger = slack.new_trigger_id("U0ONCALL", issued_ago=5)
    await post(client, with_trigger_id(slash_command("declare", slack.response_url("e")), trigger))
    await slack.await_for(lambda: len(slack.responses("e")) == 1, timeout=10)
    [answer] = slack.responses("e")
    assert answer["response_type"] == "ephemeral"
    assert "could not open (expired_trigger_id)" in answer["text"]
    assert slack.modals() == []
