"""What Slack sends opsbot, built and signed as Slack does, and the helpers that post it.

Bodies: ``slash_command`` (``/ops <text>`` as the on-call ``U0ONCALL`` types it), ``click`` (a
``block_actions`` button click) and ``event_body`` (an Events API ``event_callback``).
``signed_headers`` signs a body with ``SIGNING_SECRET`` (the secret the tests give the bot), or
with another secret or an old timestamp, for the forgeries.

Posting: ``post`` (an in-process client of the app, form body), ``post_event`` (the same, an
event as JSON, optionally marked as Slack's retry), ``post_to_bot`` (a real ``opsbot serve``).
``post_message`` is the other direction: a person's message posted to the Slack emulator
through the Web API (tests/fakes/slack/), as a channel member would write it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack.api import SlackEmulator
from tests.support.server import BotProcess

SIGNING_SECRET = "slack-signing-secret"
CHANNEL = "C0INCIDENT"
EVENTS_PATH = "/slack/events"


def signed_headers(
    body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


def slash_command(text: str, response_url: str) -> bytes:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token-unused",
            "team_id": "T0TEST",
            "team_domain": "opsbot-test",
            "channel_id": CHANNEL,
            "channel_name": "incidents",
            "user_id": "U0ONCALL",
            "user_name": "ada",
            "command": "/ops",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    ).encode()


def click(action_id: str, value: str, user: str, response_url: str) -> bytes:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0TEST", "domain": "opsbot-test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token-unused",
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL, "name": "incidents"},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "opsbot_approval",
                "value": value,
                "action_ts": "1.000002",
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {
            "token": "legacy-verification-token-unused",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "event": event,
        }
    ).encode()


async def post(client: httpx.AsyncClient, body: bytes) -> None:
    """A signed form body (slash command, click) to the app; Slack wants a 200."""
    response = await client.post(EVENTS_PATH, content=body, headers=signed_headers(body))
    assert response.status_code == 200


async def post_event(
    client: httpx.AsyncClient, event: dict[str, Any], event_id: str, retry: int = 0
) -> None:
    """A signed event to the app; ``retry`` > 0 marks it as Slack's n-th retry of ``event_id``."""
    body = event_body(event, event_id)
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    response = await client.post(EVENTS_PATH, content=body, headers=headers)
    assert response.status_code == 200


def post_to_bot(bot: BotProcess, body: bytes) -> None:
    """A signed form body to a running ``opsbot serve``."""
    httpx.post(
        f"{bot.url}{EVENTS_PATH}", content=body, headers=signed_headers(body)
    ).raise_for_status()


async def post_message(slack: SlackEmulator, text: str, channel: str = CHANNEL) -> str:
    """A person's message in ``channel`` of the Slack emulator; its ``ts``."""
    from slack_sdk.web.async_client import AsyncWebClient

    web = AsyncWebClient(token="xoxb-test-token", base_url=slack.api_url)
    answer = await web.chat_postMessage(channel=channel, text=text)
    return str(answer["ts"])


# -- shortcuts, selects, modals and the App Home (issue 15) ---------------------------------------
# Interaction payloads as Slack posts them (docs.slack.dev/reference/interaction-payloads): a form
# with one field, ``payload`` (JSON), signed like the rest (``post``, ``post_to_bot``). Each takes
# the ``trigger_id`` Slack issues with it: ``slack.new_trigger_id(user)`` from the Slack emulator,
# which ``views.open`` accepts once, within 3 seconds. ``app_home_opened`` is an Events API event
# (for ``post_event`` / ``event_body``).

TEAM = {"id": "T0TEST", "domain": "opsbot-test"}
VERIFICATION_TOKEN = "legacy-verification-token-unused"
APP_ID = "A0TEST"


def interaction_body(payload: dict[str, Any]) -> bytes:
    """An interaction payload as Slack posts it: ``payload=<json>``, form-encoded."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def with_trigger_id(body: bytes, trigger_id: str) -> bytes:
    """``body`` (a ``slash_command`` or a ``click``) with ``trigger_id`` in place of their fixed
    ``1.2.3``, which the Slack emulator never issued: for a command or a click the bot answers
    with a modal."""
    form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
    if "payload" in form:
        payload = json.loads(form["payload"][0])
        payload["trigger_id"] = trigger_id
        return interaction_body(payload)
    fields = {name: values[0] for name, values in form.items()}
    fields["trigger_id"] = trigger_id
    return urllib.parse.urlencode(fields).encode()


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _channel(channel: str) -> dict[str, str]:
    return {"id": channel, "name": "incidents" if channel == CHANNEL else channel.lower()}


def _user(user: str) -> dict[str, str]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0TEST"}


def message_shortcut(
    callback_id: str,
    user: str,
    channel: str,
    message_ts: str,
    text: str,
    trigger_id: str,
    response_url: str,
    *,
    author: str | None = None,
) -> bytes:
    """``user`` runs the message shortcut ``callback_id`` on the message ``message_ts`` in
    ``channel`` (``text``, written by ``author``, default ``user``): Slack's ``message_action``."""
    payload: dict[str, Any] = {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": _action_ts(),
        "team": TEAM,
        "user": {"id": user, "name": user.lower(), "team_id": "T0TEST"},
        "channel": _channel(channel),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "message_ts": message_ts,
        "message": {
            "type": "message",
            "user": author or user,
            "ts": message_ts,
            "text": text,
            "team": "T0TEST",
        },
        "response_url": response_url,
    }
    return interaction_body(payload)


def global_shortcut(callback_id: str, user: str, trigger_id: str) -> bytes:
    """``user`` runs the global shortcut ``callback_id`` (no channel, no response_url): Slack's
    ``shortcut``."""
    payload: dict[str, Any] = {
        "type": "shortcut",
        "token": VERIFICATION_TOKEN,
        "action_ts": _action_ts(),
        "team": TEAM,
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    }
    return interaction_body(payload)


def select_option(option: dict[str, Any] | str) -> dict[str, Any]:
    """An option object; a bare value stands for an option whose text is that value."""
    if isinstance(option, str):
        return {"text": {"type": "plain_text", "text": option, "emoji": True}, "value": option}
    return option


def select_click(
    action_id: str,
    block_id: str,
    option: dict[str, Any] | str,
    user: str,
    channel: str,
    message_ts: str,
    trigger_id: str,
    response_url: str,
    *,
    message: dict[str, Any] | None = None,
) -> bytes:
    """``user`` picks ``option`` (an option object as the select offers it, or its value) in the
    ``static_select`` ``action_id`` of block ``block_id`` on the bot's message ``message_ts``:
    Slack's ``block_actions``, with the select's ``state`` and ``selected_option``. ``message``:
    the message as Slack would include it (default: the bot's, with its ts and no blocks)."""
    chosen = select_option(option)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": _channel(channel),
        "message": message
        or {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0BOT",
            "app_id": APP_ID,
            "team": "T0TEST",
            "ts": message_ts,
            "text": "",
        },
        "state": {
            "values": {block_id: {action_id: {"type": "static_select", "selected_option": chosen}}}
        },
        "response_url": response_url,
        "actions": [
            {
                "type": "static_select",
                "action_id": action_id,
                "block_id": block_id,
                "selected_option": chosen,
                "action_ts": _action_ts(),
            }
        ],
    }
    return interaction_body(payload)


def view_submission(
    slack: SlackEmulator, view_id: str, user: str, values: dict[str, Any] | None = None
) -> bytes:
    """``user`` submits the modal ``view_id`` the bot opened in the Slack emulator, with
    ``values`` (``{block_id: value}``; see ``SlackEmulator.submission_payload``, which refuses a
    submission Slack would never send): Slack's ``view_submission``, with a fresh trigger id."""
    return interaction_body(slack.submission_payload(view_id, user, values))


def app_home_opened(
    user: str, view: dict[str, Any] | None = None, *, tab: str = "home", channel: str = "D0OPSBOT"
) -> dict[str, Any]:
    """The ``app_home_opened`` event (for ``post_event``): ``user`` opened the bot's App Home.
    Slack includes ``view`` (the Home tab as last published: ``slack.home(user)``) once one was."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": _action_ts(),
    }
    if view is not None:
        event["view"] = view
    return event
