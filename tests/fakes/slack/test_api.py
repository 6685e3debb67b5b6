"""The Slack emulator, proved through the real ``slack_sdk`` and ``slack_bolt`` clients.

Each test names the Slack behaviour it proves; each would fail if the emulator lacked it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack.api import SlackEmulator

CHANNEL = "C0INCIDENT"
META = {"event_type": "opsbot_outbox", "event_payload": {"outbox_ids": [7]}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL, "C0OTHER")) as emulator:
        yield emulator
        assert emulator.emulator_errors() == []


@pytest.fixture
def web(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)


def api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


# -- posting and reading back -------------------------------------------------------------------


def test_an_attachments_only_post_as_alertmanager_sends_it_reads_back_numbered(
    slack: SlackEmulator,
) -> None:
    # Alertmanager's slack_configs: a JSON body of channel, username and attachments only, with
    # the bot token as a bearer header.
    body: dict[str, Any] = {
        "channel": CHANNEL,
        "username": "alertmanager",
        "attachments": [
            {"title": "[FIRING:1] X", "text": "on svc", "fallback": "x", "callback_id": ""}
        ],
    }
    answer = httpx.post(
        f"{slack.api_url}chat.postMessage",
        json=body,
        headers={"Authorization": f"Bearer {slack.bot_token}"},
        timeout=5,
    ).json()
    assert answer["ok"] is True
    assert answer["message"]["attachments"][0]["id"] == 1
    history = WebClient(token=slack.bot_token, base_url=slack.api_url).conversations_history(
        channel=CHANNEL
    )
    [message] = history["messages"]
    assert message["text"] == ""
    assert message["attachments"] == [{**body["attachments"][0], "id": 1}]


def test_root_and_threaded_reply_read_back_with_metadata(
    slack: SlackEmulator, web: WebClient
) -> None:
    root = web.chat_postMessage(
        channel=CHANNEL, text="incident", blocks=[section("*incident*")], metadata=META
    )
    assert root["message"]["user"] == "U0BOT"
    assert root["message"]["metadata"] == META
    reply = web.chat_postMessage(
        channel=CHANNEL, text="update", thread_ts=root["ts"], metadata=META
    )
    assert reply["message"]["thread_ts"] == root["ts"]
    assert float(reply["ts"]) > float(root["ts"])

    history = web.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [root["ts"]]  # replies stay in the thread
    assert history["messages"][0]["metadata"] == META
    assert history["messages"][0]["reply_count"] == 1
    assert history["has_more"] is False
    assert history["response_metadata"]["next_cursor"] == ""
    plain = web.conversations_history(channel=CHANNEL)
    assert "metadata" not in plain["messages"][0]  # only with include_all_metadata

    thread = web.conversations_replies(channel=CHANNEL, ts=root["ts"], include_all_metadata=True)
    assert [m["ts"] for m in thread["messages"]] == [root["ts"], reply["ts"]]
    assert thread["messages"][1]["metadata"] == META

    assert [m["ts"] for m in slack.roots(CHANNEL)] == [root["ts"]]
    assert [m["text"] for m in slack.replies(CHANNEL, root["ts"])] == ["update"]
    assert slack.messages(CHANNEL)[0]["blocks"] == [section("*incident*")]


def test_form_encoded_post_with_json_string_blocks_and_metadata(
    slack: SlackEmulator, web: WebClient
) -> None:
    """Slack takes blocks/metadata as JSON strings inside a form body, too."""
    web.api_call(
        "chat.postMessage",
        data={
            "channel": CHANNEL,
            "text": "form",
            "blocks": json.dumps([section("form")]),
            "metadata": json.dumps(META),
        },
    )
    (message,) = slack.messages(CHANNEL)
    assert message["blocks"] == [section("form")]
    assert message["metadata"] == META
    assert slack.calls("chat.postMessage")[0]["ok"] is True


def test_history_paginates_newest_first_with_cursor(slack: SlackEmulator, web: WebClient) -> None:
    posted = [web.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = web.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == posted[::-1]
    after = web.conversations_history(channel=CHANNEL, oldest=posted[2])
    assert [m["ts"] for m in after["messages"]] == posted[:2:-1]  # oldest is exclusive


async def test_async_client_chat_update_edits_message(slack: SlackEmulator) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    posted = await client.chat_postMessage(channel=CHANNEL, text="firing", blocks=[section("a")])
    updated = await client.chat_update(
        channel=CHANNEL, ts=posted["ts"], text="resolved", blocks=[section("b")]
    )
    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "resolved"
    (message,) = slack.messages(CHANNEL)
    assert (message["text"], message["blocks"], message["edits"]) == ("resolved", [section("b")], 1)
    history = await client.conversations_history(channel=CHANNEL)
    assert history["messages"][0]["text"] == "resolved"
    assert "edited" in history["messages"][0]

    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    assert api_error(exc) == "message_not_found"


async def test_concurrent_posts_get_unique_increasing_ts(slack: SlackEmulator) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    results = await asyncio.gather(
        *(client.chat_postMessage(channel=CHANNEL, text=f"n{i}") for i in range(30))
    )
    tss = [r["ts"] for r in results]
    assert len(set(tss)) == 30
    stored = [m["ts"] for m in slack.messages(CHANNEL)]
    assert stored == sorted(stored, key=float)
    assert len(stored) == 30


# -- what Slack refuses -------------------------------------------------------------------------


def test_tokens_are_checked(slack: SlackEmulator) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    with pytest.raises(SlackApiError) as exc:
        wrong.chat_postMessage(channel=CHANNEL, text="x")
    assert api_error(exc) == "invalid_auth"
    assert exc.value.response.status_code == 200  # API errors are HTTP 200, like Slack

    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=slack.api_url).auth_test()
    assert api_error(exc) == "not_authed"

    app_token = WebClient(token=slack.app_token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as exc:
        app_token.chat_postMessage(channel=CHANNEL, text="x")
    assert api_error(exc) == "not_allowed_token_type"

    bot = WebClient(token=slack.bot_token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as exc:
        bot.apps_connections_open(app_token=slack.bot_token)
    assert api_error(exc) == "not_allowed_token_type"
    assert bot.auth_test()["user_id"] == "U0BOT"
    assert slack.messages() == []


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section("x")] * 51, "/blocks"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
        ),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/fields"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "/fields/0"),
        ([{"text": {"type": "mrkdwn", "text": "no type"}}], "/blocks/0"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([{**section("x"), "expand": "false"}], "/blocks/0/expand"),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "header-151",
        "11-fields",
        "field-2001",
        "no-type",
        "type",
        "expand-not-boolean",
    ],
)
def test_block_kit_limits_give_invalid_blocks(
    slack: SlackEmulator, web: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)
    assert api_error(exc) == "invalid_blocks"
    assert pointer in " ".join(exc.value.response["response_metadata"]["messages"])
    assert slack.messages() == []


def test_block_kit_limits_are_inclusive(slack: SlackEmulator, web: WebClient) -> None:
    """Exactly at each limit is fine: the checks above are not just rejecting everything."""
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10}
    web.chat_postMessage(channel=CHANNEL, text="t", blocks=[header, fields, section("x" * 3000)])
    web.chat_postMessage(channel=CHANNEL, text="t", blocks=[section("x")] * 50)
    collapsed = [{**section("x" * 3000), "expand": False}, {**section("y"), "expand": True}]
    web.chat_postMessage(channel=CHANNEL, text="t", blocks=collapsed)
    assert len(slack.messages()) == 3


def test_text_and_channel_checks(slack: SlackEmulator, web: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel="C0NOPE", text="x")
    assert api_error(exc) == "channel_not_found"
    with pytest.raises(SlackApiError) as exc:
        web.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert api_error(exc) == "no_text"
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel=CHANNEL, text="x" * 40_001)
    assert api_error(exc) == "msg_too_long"
    with pytest.raises(SlackApiError) as exc:
        web.api_call("chat.postMessage", json={"channel": CHANNEL, "text": "x", "metadata": {}})
    assert api_error(exc) == "invalid_metadata_schema"
    with pytest.raises(SlackApiError) as exc:
        web.api_call("chat.scheduledMessagesFrobnicate")
    assert api_error(exc) == "unknown_method"
    assert slack.messages() == []


def test_reply_to_unknown_thread_is_thread_not_found(slack: SlackEmulator, web: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel=CHANNEL, text="early reply", thread_ts="1700000000.000100")
    assert api_error(exc) == "thread_not_found"
    root = web.chat_postMessage(channel=CHANNEL, text="root")
    with pytest.raises(SlackApiError) as exc:  # a root in another channel is not this thread
        web.chat_postMessage(channel="C0OTHER", text="reply", thread_ts=root["ts"])
    assert api_error(exc) == "thread_not_found"
    reply = web.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root["ts"])
    with pytest.raises(SlackApiError) as exc:  # threads hang off roots, not off replies
        web.chat_postMessage(channel=CHANNEL, text="nested", thread_ts=reply["ts"])
    assert api_error(exc) == "thread_not_found"
    with pytest.raises(SlackApiError) as exc:
        web.conversations_replies(channel=CHANNEL, ts="1700000000.000100")
    assert api_error(exc) == "thread_not_found"
    assert [m["text"] for m in slack.messages()] == ["root", "reply"]


# -- fault injection ----------------------------------------------------------------------------


def test_rate_limit_next_answers_429_with_retry_after(slack: SlackEmulator, web: WebClient) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        web.chat_postMessage(channel=CHANNEL, text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert api_error(exc) == "ratelimited"
    assert slack.messages() == []  # a refused call has no effect
    web.chat_postMessage(channel=CHANNEL, text="x")  # only the next call was refused
    assert [(c["status"], c["error"]) for c in slack.calls("chat.postMessage")] == [
        (429, "ratelimited"),
        (200, None),
    ]


def test_fail_next_answers_http_500(slack: SlackEmulator, web: WebClient) -> None:
    slack.fail_next("chat.update", 2, error="fatal_error")
    root = web.chat_postMessage(channel=CHANNEL, text="x")  # other methods unaffected
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            web.chat_update(channel=CHANNEL, ts=root["ts"], text="y")
        assert exc.value.response.status_code == 500
        assert api_error(exc) == "fatal_error"
    web.chat_update(channel=CHANNEL, ts=root["ts"], text="y")
    assert slack.messages()[0]["edits"] == 1


async def test_delay_next_times_out_the_client_but_the_post_lands(slack: SlackEmulator) -> None:
    slack.delay_next("chat.postMessage", 3.0)
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.chat_postMessage(channel=CHANNEL, text="slow", metadata=META)
    assert time.monotonic() - started < 2.5
    (message,) = slack.messages(CHANNEL)  # landed, though the client never heard
    assert message["metadata"] == META
    await client.chat_postMessage(channel=CHANNEL, text="fast")  # only one call delayed


def test_channel_rate_refuses_posts_beyond_the_bucket() -> None:
    with SlackEmulator(channel_rate=2.0, channel_burst=2) as slack:
        web = WebClient(token=slack.bot_token, base_url=slack.api_url)
        web.chat_postMessage(channel=CHANNEL, text="1")
        web.chat_postMessage(channel=CHANNEL, text="2")
        with pytest.raises(SlackApiError) as exc:
            web.chat_postMessage(channel=CHANNEL, text="3")
        assert exc.value.response.status_code == 429
        assert exc.value.response.headers["Retry-After"] == "1"
        assert len(slack.rate_violations()) == 1
        time.sleep(0.6)  # 2/s refills a token in 0.5s
        web.chat_postMessage(channel=CHANNEL, text="4")
        assert [m["text"] for m in slack.messages(CHANNEL)] == ["1", "2", "4"]


def test_channel_rate_is_per_channel() -> None:
    with SlackEmulator(channels=(CHANNEL, "C0OTHER"), channel_rate=1.0, channel_burst=1) as slack:
        web = WebClient(token=slack.bot_token, base_url=slack.api_url)
        web.chat_postMessage(channel=CHANNEL, text="a")
        web.chat_postMessage(channel="C0OTHER", text="b")  # its own bucket
        with pytest.raises(SlackApiError):
            web.chat_postMessage(channel=CHANNEL, text="c")
        (violation,) = slack.rate_violations()
        assert violation.startswith("C0INCIDENT: chat.postMessage refused")


def test_rate_violations_observed_without_enforcement(slack: SlackEmulator, web: WebClient) -> None:
    for i in range(slack.channel_burst + 1):  # burst + 1 within a second is tolerated
        web.chat_postMessage(channel=CHANNEL, text=f"{i}")
    assert slack.rate_violations() == []
    web.chat_postMessage(channel=CHANNEL, text="one too many")
    (violation,) = slack.rate_violations()
    assert violation.startswith("C0INCIDENT: 7 posts within 1s")
    assert len(slack.messages()) == 7  # nothing refused


# -- response_url -------------------------------------------------------------------------------


def test_response_url_records_posts_and_allows_five(slack: SlackEmulator) -> None:
    hook = WebhookClient(slack.response_url("cmd"))
    for i in range(5):
        assert hook.send(text=f"reply {i}", response_type="ephemeral").status_code == 200
    assert hook.send(text="sixth").status_code == 404
    assert hook.send(blocks=[section("x" * 3001)]).status_code in (400, 404)
    assert [r["text"] for r in slack.responses("cmd")] == [f"reply {i}" for i in range(5)]
    assert slack.responses("other") == []
    other = WebhookClient(slack.response_url("r2"))
    assert other.send(blocks=[section("x" * 3001)]).status_code == 400
    assert other.send(response_type="ephemeral").status_code == 400  # no text
    assert slack.responses("r2") == []


def test_wait_for_raises_assertion_with_context(slack: SlackEmulator) -> None:
    with pytest.raises(AssertionError, match=r"three messages not true within 0\.05s"):
        slack.wait_for(lambda: len(slack.messages()) == 3, 0.05, "three messages")


# -- Socket Mode --------------------------------------------------------------------------------


async def test_socket_mode_client_connects_receives_and_acks(slack: SlackEmulator) -> None:
    received: list[SocketModeRequest] = []
    raw: list[str] = []

    async def on_request(client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "got it"})
        )

    async def on_message(message: Any) -> None:
        raw.append(message.data)

    web = AsyncWebClient(base_url=slack.api_url)
    client = SocketModeClient(
        app_token=slack.app_token,
        web_client=web,
        on_message_listeners=[on_message],
        ping_interval=0.2,
    )
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        await slack.await_for_socket_client()
        await asyncio.sleep(1.2)  # several client ping/pong rounds: the session must stay up
        assert await client.is_connected()
        assert [c["ok"] for c in slack.calls("apps.connections.open")] == [True]  # no reconnect
        payload = {"command": "/ops", "text": "status", "response_url": slack.response_url()}
        ack = await slack.apush_envelope("slash_commands", payload, accepts_response_payload=True)
    finally:
        await client.close()

    assert json.loads(raw[0])["type"] == "hello"  # Slack speaks first
    (req,) = received
    assert (req.type, req.payload, req.accepts_response_payload) == (
        "slash_commands",
        payload,
        True,
    )
    assert ack == {"envelope_id": req.envelope_id, "payload": {"text": "got it"}}
    assert slack.socket_messages() == [ack]
    await slack.await_for(lambda: slack.socket_clients() == 0, 5)


async def test_push_envelope_without_ack_times_out(slack: SlackEmulator) -> None:
    client = SocketModeClient(
        app_token=slack.app_token, web_client=AsyncWebClient(base_url=slack.api_url)
    )
    try:
        await client.connect()  # no listeners: nobody acks
        await slack.await_for_socket_client()
        with pytest.raises(TimeoutError, match="no ack"):
            await slack.apush_envelope(
                "events_api", {"event": {"type": "app_mention"}}, timeout=0.3
            )
    finally:
        await client.close()


async def test_disconnect_message_makes_the_client_reconnect(slack: SlackEmulator) -> None:
    client = SocketModeClient(
        app_token=slack.app_token, web_client=AsyncWebClient(base_url=slack.api_url)
    )
    try:
        await client.connect()
        await slack.await_for_socket_client()
        assert await asyncio.to_thread(slack.disconnect_socket_clients) == 1
        await slack.await_for(lambda: len(slack.calls("apps.connections.open")) == 2, 5)
        await slack.await_for(lambda: slack.socket_clients() == 1, 5)
        assert await client.is_connected()
    finally:
        await client.close()


def test_blocking_push_envelope_to_a_bolt_app_in_another_thread(slack: SlackEmulator) -> None:
    """End to end: Bolt's AsyncSocketModeHandler acks a slash command and respond()s."""
    ready = threading.Event()
    done = threading.Event()

    async def run_bolt() -> None:
        app = AsyncApp(
            client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
            request_verification_enabled=False,
        )

        @app.command("/ops")
        async def ops(ack: Any, command: dict[str, Any], respond: Any) -> None:
            await ack()
            await respond(text=f"you said {command['text']}", response_type="ephemeral")

        handler = AsyncSocketModeHandler(app, slack.app_token)
        await handler.connect_async()
        ready.set()
        while not done.is_set():
            await asyncio.sleep(0.02)
        await handler.close_async()

    thread = threading.Thread(target=asyncio.run, args=(run_bolt(),))
    thread.start()
    try:
        assert ready.wait(10)
        slack.wait_for_socket_client()
        command = {
            "command": "/ops",
            "text": "status",
            "user_id": "U1",
            "channel_id": CHANNEL,
            "team_id": "T0TEST",
            "response_url": slack.response_url("cmd1"),
            "trigger_id": "1.2.3",
        }
        ack = slack.push_envelope("slash_commands", command, accepts_response_payload=True)
        assert set(ack) >= {"envelope_id"}
        slack.wait_for(lambda: len(slack.responses("cmd1")) == 1, 5)
    finally:
        done.set()
        thread.join(10)
    assert not thread.is_alive()
    assert slack.responses("cmd1")[0]["text"] == "you said status"
