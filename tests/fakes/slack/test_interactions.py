"""The interaction payload builders (tests/support/slack_requests.py) against the Slack emulator,
through a real ``slack_bolt`` app: Bolt routes each body to the listener Slack's payload would
reach (by type, callback_id, action_id), and the listener's calls land in the emulator.

Each test names the Slack behaviour it proves; each would fail if a builder's shape were not
Slack's (Bolt would not route it) or the emulator refused what the listener does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient

from tests.fakes.slack.api import SlackEmulator
from tests.support.slack_requests import (
    CHANNEL,
    SIGNING_SECRET,
    app_home_opened,
    event_body,
    global_shortcut,
    message_shortcut,
    select_click,
    signed_headers,
    slash_command,
    view_submission,
    with_trigger_id,
)

ONCALL = "U0ONCALL"
SEVERITIES = [
    {"text": {"type": "plain_text", "text": f"SEV{n}"}, "value": str(n)} for n in range(1, 5)
]
DECLARE = {
    "type": "modal",
    "callback_id": "declare_incident",
    "title": {"type": "plain_text", "text": "Declare an incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {"type": "static_select", "action_id": "value", "options": SEVERITIES},
        },
    ],
}


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator
        assert emulator.emulator_errors() == []


@pytest.fixture
def seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def app(slack: SlackEmulator, seen: list[dict[str, Any]]) -> App:
    """A Bolt app as opsbot's would be: each listener notes its body, and the ones Slack gives a
    trigger to open the declare modal with it."""
    web = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    bolt = App(client=web, signing_secret=SIGNING_SECRET, process_before_response=True)

    def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(body)
        private = json.dumps({"from": body.get("type", body.get("command"))})
        client.views_open(
            trigger_id=body["trigger_id"], view={**DECLARE, "private_metadata": private}
        )

    bolt.shortcut({"type": "message_action", "callback_id": "declare_incident"})(open_modal)
    bolt.global_shortcut("declare_incident")(open_modal)
    bolt.command("/ops")(open_modal)

    @bolt.view("declare_incident")
    def submitted(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        seen.append(body)

    @bolt.action({"type": "block_actions", "action_id": "severity"})
    def picked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        seen.append({**body, "picked": action["selected_option"]["value"]})

    @bolt.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        seen.append(event)
        line = "welcome back" if "view" in event else "welcome"
        text = {"type": "mrkdwn", "text": line}
        client.views_publish(
            user_id=event["user"],
            view={"type": "home", "blocks": [{"type": "section", "text": text}]},
        )

    return bolt


def dispatch(app: App, body: bytes, content_type: str | None = None) -> int:
    headers = signed_headers(body)
    if content_type:
        headers["Content-Type"] = content_type
    return app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status


def test_message_shortcut_opens_the_modal_for_its_user(
    slack: SlackEmulator, app: App, seen: list[dict[str, Any]]
) -> None:
    trigger = slack.new_trigger_id(ONCALL)
    body = message_shortcut(
        "declare_incident", ONCALL, CHANNEL, "1700000000.000100", "checkout 500s", trigger, "u"
    )
    assert dispatch(app, body) == 200
    (payload,) = seen
    assert payload["type"] == "message_action"
    assert payload["message"]["text"] == "checkout 500s"
    assert payload["channel"]["id"] == CHANNEL
    (modal,) = slack.modals()
    assert (modal["user"], modal["trigger_id"]) == (ONCALL, trigger)
    assert json.loads(modal["view"]["private_metadata"]) == {"from": "message_action"}


def test_global_shortcut_opens_the_modal(
    slack: SlackEmulator, app: App, seen: list[dict[str, Any]]
) -> None:
    assert (
        dispatch(app, global_shortcut("declare_incident", "U0ADA", slack.new_trigger_id("U0ADA")))
        == 200
    )
    assert seen[0]["type"] == "shortcut"
    assert [m["user"] for m in slack.modals()] == ["U0ADA"]


def test_slash_command_with_an_issued_trigger_opens_the_modal(
    slack: SlackEmulator, app: App
) -> None:
    body = with_trigger_id(slash_command("declare", "u"), slack.new_trigger_id(ONCALL))
    assert dispatch(app, body) == 200
    assert [m["user"] for m in slack.modals()] == [ONCALL]


def test_a_trigger_used_twice_opens_one_modal(slack: SlackEmulator, app: App) -> None:
    """Slack redelivers nothing here, but a bot that reuses a trigger gets exchanged_trigger_id."""
    body = global_shortcut("declare_incident", ONCALL, slack.new_trigger_id(ONCALL))
    dispatch(app, body)
    dispatch(app, body)  # Bolt logs the listener's SlackApiError and answers 500
    assert len(slack.modals()) == 1
    assert [c["error"] for c in slack.calls("views.open")] == [None, "exchanged_trigger_id"]


def test_view_submission_reaches_the_view_listener_with_the_state(
    slack: SlackEmulator, app: App, seen: list[dict[str, Any]]
) -> None:
    dispatch(app, global_shortcut("declare_incident", ONCALL, slack.new_trigger_id(ONCALL)))
    (modal,) = slack.modals()
    body = view_submission(slack, modal["id"], ONCALL, {"title": "checkout down", "severity": "2"})
    assert dispatch(app, body) == 200
    submitted = seen[-1]
    assert submitted["type"] == "view_submission"
    assert submitted["user"]["id"] == ONCALL
    values = submitted["view"]["state"]["values"]
    assert values["title"]["value"]["value"] == "checkout down"
    assert values["severity"]["value"]["selected_option"] == SEVERITIES[1]


def test_select_click_reaches_the_action_listener(
    slack: SlackEmulator, app: App, seen: list[dict[str, Any]]
) -> None:
    body = select_click(
        "severity", "incident_controls", SEVERITIES[0], ONCALL, CHANNEL, "1700000000.000100",
        slack.new_trigger_id(ONCALL), "u",
    )  # fmt: skip
    assert dispatch(app, body) == 200
    (clicked,) = seen
    assert clicked["picked"] == "1"
    assert clicked["container"]["message_ts"] == "1700000000.000100"
    assert (
        clicked["state"]["values"]["incident_controls"]["severity"]["selected_option"]
        == (SEVERITIES[0])
    )
    bare = select_click("severity", "b", "3", ONCALL, CHANNEL, "1.0", "t", "u")
    assert dispatch(app, bare) == 200
    assert seen[-1]["picked"] == "3"


def test_app_home_opened_publishes_the_home_tab(
    slack: SlackEmulator, app: App, seen: list[dict[str, Any]]
) -> None:
    first = event_body(app_home_opened(ONCALL), "Ev1")
    assert dispatch(app, first, "application/json") == 200
    home = slack.home(ONCALL)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "welcome"
    again = event_body(app_home_opened(ONCALL, slack.home(ONCALL)), "Ev2")
    assert dispatch(app, again, "application/json") == 200
    assert seen[-1]["view"]["id"] == home["id"]
    home = slack.home(ONCALL)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "welcome back"
