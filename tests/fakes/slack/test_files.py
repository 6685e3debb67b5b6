"""The Slack emulator's file upload (files_upload_v2), proved through the real ``slack_sdk``.

Each test names the Slack behaviour it proves; each would fail if the emulator lacked it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from urllib.error import HTTPError

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.api import UPLOAD, SlackEmulator

CHANNEL = "C0INCIDENT"


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG (white pixels), small enough to read in a failure message."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL, "C0OTHER")) as emulator:
        yield emulator
        assert emulator.emulator_errors() == []


@pytest.fixture
def web(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)


@pytest.fixture
def root(web: WebClient) -> str:
    return str(web.chat_postMessage(channel=CHANNEL, text="incident")["ts"])


def api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def upload_url(web: WebClient, length: int, filename: str = "chart.png") -> tuple[str, str]:
    answer = web.files_getUploadURLExternal(filename=filename, length=length)
    return str(answer["upload_url"]), str(answer["file_id"])


def complete(web: WebClient, file_id: str, **kwargs: str) -> dict[str, object]:
    files = [{"id": file_id, "title": "Chart"}]
    return dict(web.files_completeUploadExternal(files=files, **kwargs).data)  # type: ignore[arg-type]


# -- the whole flow -----------------------------------------------------------------------------


def test_files_upload_v2_stores_the_exact_bytes_and_replies_in_the_thread(
    slack: SlackEmulator, web: WebClient, root: str
) -> None:
    answer = web.files_upload_v2(
        channel=CHANNEL,
        thread_ts=root,
        filename="chart.png",
        content=PNG,
        title="Error rate around the alert",
        alt_txt="error_rate rose at 03:00",
    )
    file = answer["file"]
    assert file["id"].startswith("F")
    assert (file["name"], file["title"], file["mimetype"]) == (
        "chart.png",
        "Error rate around the alert",
        "image/png",
    )
    assert (file["size"], file["original_w"], file["original_h"]) == (len(PNG), 3, 2)
    assert answer["files"] == [file]

    (stored,) = slack.files()
    assert stored["id"] == file["id"]
    assert stored["content"] == PNG
    assert (stored["channel"], stored["thread_ts"], stored["filename"]) == (
        CHANNEL,
        root,
        "chart.png",
    )
    assert stored["alt_text"] == "error_rate rose at 03:00"

    thread = web.conversations_replies(channel=CHANNEL, ts=root)["messages"]
    assert len(thread) == 2
    reply = thread[1]
    assert (reply["thread_ts"], reply["user"], reply["upload"]) == (root, "U0BOT", True)
    assert [f["id"] for f in reply["files"]] == [file["id"]]
    assert reply["files"][0]["alt_txt"] == "error_rate rose at 03:00"
    assert thread[0]["reply_count"] == 1
    assert [m["files"] for m in slack.replies(CHANNEL, root)] == [[file["id"]]]
    # a threaded file share stays out of the channel's history, like any reply
    assert [m["ts"] for m in web.conversations_history(channel=CHANNEL)["messages"]] == [root]
    assert [c["method"] for c in slack.calls()][1:4] == [
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]


async def test_async_client_upload_arrives_intact(slack: SlackEmulator, root: str) -> None:
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    content = bytes(range(256)) * 64  # every byte value, not only text
    answer = await client.files_upload_v2(
        channel=CHANNEL, thread_ts=root, filename="dump.bin", content=content, title="dump"
    )
    (stored,) = slack.files()
    assert stored["id"] == answer["file"]["id"]
    assert stored["content"] == content
    assert stored["mimetype"] == "application/octet-stream"


def test_a_file_of_several_megabytes_arrives_intact(slack: SlackEmulator, web: WebClient) -> None:
    # (WebClient: AsyncWebClient's aiohttp warns about raw bodies over 1 MiB)
    content = bytes(range(251)) * (3 * 1024 * 1024 // 251)
    web.files_upload_v2(channel=CHANNEL, filename="big.bin", content=content)
    assert slack.files()[0]["content"] == content


def test_a_multipart_upload_is_accepted_too(slack: SlackEmulator, web: WebClient) -> None:
    """Slack's page: "Files can be sent as raw bytes or can be multipart form encoded"."""
    url, file_id = upload_url(web, len(PNG))
    answer = httpx.post(url, files={"filename": ("chart.png", PNG, "image/png")})
    assert (answer.status_code, answer.text) == (200, f"OK - {len(PNG)}")
    complete(web, file_id, channel_id=CHANNEL)
    assert slack.files()[0]["content"] == PNG


def test_the_upload_answers_like_slack(web: WebClient) -> None:
    url, _ = upload_url(web, 5)
    answer = httpx.post(url, content=b"hello")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "OK - 5"


def test_without_a_channel_the_file_stays_private(slack: SlackEmulator, web: WebClient) -> None:
    web.files_upload_v2(filename="notes.txt", content="hello", title="notes")
    (stored,) = slack.files()
    assert (stored["channel"], stored["thread_ts"], stored["mimetype"]) == (
        None,
        None,
        "text/plain",
    )
    assert slack.messages() == []


# -- what Slack refuses -------------------------------------------------------------------------


def test_tokens_are_checked(slack: SlackEmulator) -> None:
    for token, error in (
        ("xoxb-wrong", "invalid_auth"),
        (None, "not_authed"),
        (slack.app_token, "not_allowed_token_type"),
    ):
        client = WebClient(token=token, base_url=slack.api_url, timeout=5)
        with pytest.raises(SlackApiError) as exc:
            client.files_upload_v2(channel=CHANNEL, filename="chart.png", content=PNG)
        assert api_error(exc) == error
    assert slack.files() == []


def test_get_upload_url_checks_its_arguments(web: WebClient) -> None:
    cases = (
        ({"filename": "a.png", "length": 0}, "missing_argument"),
        ({"filename": "", "length": 3}, "invalid_arguments"),
        ({"filename": "a.png", "length": 3, "alt_txt": "x" * 1001}, "alt_txt_too_large"),
    )
    for args, error in cases:
        with pytest.raises(SlackApiError) as exc:
            web.files_getUploadURLExternal(**args)  # type: ignore[arg-type]
        assert api_error(exc) == error
    assert web.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1000)["ok"]


def test_length_must_match_the_bytes_uploaded(slack: SlackEmulator, web: WebClient) -> None:
    url, file_id = upload_url(web, len(PNG) + 1)
    assert httpx.post(url, content=PNG).status_code == 200  # the upload itself takes anything
    with pytest.raises(SlackApiError) as exc:
        complete(web, file_id, channel_id=CHANNEL)
    assert api_error(exc) == "file_upload_size_mismatch"
    assert slack.files() == []
    assert slack.messages() == []


def test_unknown_channel_is_refused_and_the_upload_can_still_complete(
    slack: SlackEmulator, web: WebClient
) -> None:
    with pytest.raises(SlackApiError) as exc:
        web.files_upload_v2(channel="C0NOPE", filename="chart.png", content=PNG)
    assert api_error(exc) == "channel_not_found"
    assert slack.files() == []
    # the refused call changed nothing: the uploaded file can be completed elsewhere
    (asked,) = [c for c in slack.calls("files.completeUploadExternal")]
    file_id = json.loads(asked["args"]["files"])[0]["id"]
    complete(web, file_id, channel_id=CHANNEL)
    assert slack.files()[0]["channel"] == CHANNEL


def test_thread_ts_must_be_a_parent_in_that_channel(
    slack: SlackEmulator, web: WebClient, root: str
) -> None:
    reply = web.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root)["ts"]
    for channel, thread_ts in ((CHANNEL, reply), (CHANNEL, "1.000001"), ("C0OTHER", root)):
        with pytest.raises(SlackApiError) as exc:
            web.files_upload_v2(
                channel=channel, thread_ts=thread_ts, filename="chart.png", content=PNG
            )
        assert api_error(exc) == "thread_not_found"
    assert slack.files() == []


def test_a_file_completes_once(slack: SlackEmulator, web: WebClient) -> None:
    url, file_id = upload_url(web, len(PNG))
    httpx.post(url, content=PNG)
    complete(web, file_id, channel_id=CHANNEL)
    with pytest.raises(SlackApiError) as exc:
        complete(web, file_id, channel_id=CHANNEL)
    assert api_error(exc) == "file_already_completed"
    assert len(slack.files()) == 1
    assert len(slack.messages(CHANNEL)) == 1


def test_completing_a_file_never_issued_or_never_uploaded_is_file_not_found(
    web: WebClient,
) -> None:
    _, pending = upload_url(web, len(PNG))
    for file_id in ("F0NEVER0001", pending):
        with pytest.raises(SlackApiError) as exc:
            complete(web, file_id, channel_id=CHANNEL)
        assert api_error(exc) == "file_not_found"


def test_an_upload_url_is_single_use_and_bound_to_its_file(web: WebClient) -> None:
    url_a, id_a = upload_url(web, 5)
    url_b, id_b = upload_url(web, 5)
    assert httpx.post(url_a, content=b"hello").status_code == 200
    assert httpx.post(url_a, content=b"hello").status_code == 410
    forged = url_b.replace(id_b, id_a)  # B's ticket with A's file id
    assert httpx.post(forged, content=b"hello").status_code == 404
    assert httpx.post(url_b, content=b"hello").status_code == 200


# -- fault injection ----------------------------------------------------------------------------


def test_rate_limited_completion_answers_429_with_retry_after(
    slack: SlackEmulator, web: WebClient
) -> None:
    slack.rate_limit_next("files.completeUploadExternal", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        web.files_upload_v2(channel=CHANNEL, filename="chart.png", content=PNG)
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert slack.files() == []


async def test_a_failed_upload_step_fails_files_upload_v2(slack: SlackEmulator) -> None:
    slack.fail_next(UPLOAD, count=2, status=503, error="service_unavailable")
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    with pytest.raises(SlackRequestError, match="status: 503"):
        await client.files_upload_v2(channel=CHANNEL, filename="chart.png", content=PNG)
    # the sync WebClient uploads with urllib, which raises its own HTTPError
    web = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    with pytest.raises(HTTPError) as exc:
        web.files_upload_v2(channel=CHANNEL, filename="chart.png", content=PNG)
    assert exc.value.code == 503
    exc.value.close()
    assert [c["status"] for c in slack.calls(UPLOAD)] == [503, 503]
    assert slack.calls("files.completeUploadExternal") == []
    assert slack.files() == []
