"""A protocol-faithful Slack emulator for tests: a real HTTP server on 127.0.0.1.

It serves the Web API methods opsbot uses (``auth.test``, ``chat.postMessage``, ``chat.update``,
``conversations.history``, ``conversations.replies``, ``apps.connections.open``,
``files.getUploadURLExternal``, ``files.completeUploadExternal``, ``views.open``,
``views.update``, ``views.publish``) under ``/api/<method>``, file
upload URLs under ``/upload/v1/<key>``, slash-command ``response_url`` endpoints under
``/response/<name>``, and a Socket Mode websocket server (``socket.py``). The real
``slack_sdk`` clients talk to it:

    with SlackEmulator() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)

It checks what Slack checks (tokens and token types, channels, threads, Block Kit limits,
metadata, per-channel posting rate) and answers in Slack's shapes: API errors are HTTP 200 with
``{"ok": false, "error": ...}``, rate limits are HTTP 429 with ``Retry-After``.

Everything runs on one event loop in a daemon thread; state is behind one lock, so tests may
read it from any thread while the bot is talking to the emulator.

The parts, one module each: ``args.py`` (reading a call's arguments), ``blocks.py``
(Block Kit and message validation), ``methods.py`` (the Web API methods and the message
store), ``files.py`` (the files_upload_v2 flow and the files), ``views.py`` (modals, the App
Home tab, trigger ids and view_submission payloads), ``faults.py`` (queued
failures and delays), ``socket.py`` and ``socket_controls.py`` (Socket Mode). This
module holds the server (on ``tests/fakes/server.py``) and what tests read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Self

from aiohttp import web

from tests.fakes.server import ThreadedServer
from tests.fakes.slack.args import ApiError, Json, RateLimited, read_body, ts_us
from tests.fakes.slack.blocks import MAX_BLOCKS, MAX_TEXT, validate_blocks
from tests.fakes.slack.faults import FaultError, FaultPlan
from tests.fakes.slack.files import UPLOAD, FileApiMethods
from tests.fakes.slack.methods import BOT_ID, BOT_USER_ID, TEAM_ID, WebApiMethods
from tests.fakes.slack.socket import SocketModeServer
from tests.fakes.slack.socket_controls import SocketModeControls
from tests.fakes.slack.views import TRIGGER_TTL_S, ViewApiMethods

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "MAX_BLOCKS",
    "MAX_TEXT",
    "RESPONSE_URL_USES",
    "TEAM_ID",
    "TRIGGER_TTL_S",
    "UPLOAD",
    "Json",
    "SlackEmulator",
    "validate_blocks",
]

RESPONSE_URL_USES = 5  # Slack: "up to 5 times within 30 minutes"
MAX_BODY = 64 * 1024 * 1024  # aiohttp's default (1 MiB) would refuse a bigger file upload


class SlackEmulator(
    SocketModeControls, ViewApiMethods, FileApiMethods, WebApiMethods, ThreadedServer
):
    _thread_name = "slack-emulator"

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",  # noqa: S107
        app_token: str = "xapp-test-token",  # noqa: S107
        channels: Iterable[str] = ("C0INCIDENT",),
        channel_rate: float | None = None,
        channel_burst: int = 5,
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.channel_rate = channel_rate
        self.channel_burst = channel_burst
        self._lock = threading.RLock()
        self._channels: dict[str, list[Json]] = {c: [] for c in channels}  # ts order
        self._usergroups: dict[str, list[str]] = {}
        self._by_ts: dict[tuple[str, str], Json] = {}
        self._threads: dict[tuple[str, str], list[Json]] = defaultdict(list)  # replies, ts order
        self._last_ts_us = 0
        self._uploads: dict[str, Json] = {}  # file id -> upload, then file (files.py)
        self._upload_seq = 0
        self._triggers: dict[str, Json] = {}  # trigger id -> its user and age (views.py)
        self._trigger_seq = 0
        self._views: dict[str, Json] = {}  # view id -> modal or home (views.py)
        self._homes: dict[str, str] = {}  # user -> home view id
        self._view_seq = 0
        self._calls: list[Json] = []
        self._faults = FaultPlan()
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._post_times: dict[str, list[float]] = defaultdict(list)
        self._refusals: list[str] = []
        self._responses: list[tuple[str, Json]] = []
        self._bugs: list[str] = []
        self._socket = SocketModeServer(self._lock)
        self._started_at = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        super().start()
        self._started_at = time.monotonic()
        return self

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response)
        app.router.add_post("/upload/v1/{key}", self._handle_upload)
        return app

    async def _on_start(self) -> None:
        await self._socket.start()

    async def _on_stop(self) -> None:
        await self._socket.stop()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def ws_url(self) -> str:
        if not self._socket.url:
            raise RuntimeError("SlackEmulator not started")
        return self._socket.url

    def add_usergroup(self, group: str, users: Iterable[str]) -> None:
        """A Slack user group (``S…``) and its members, for ``usergroups.users.list``."""
        with self._lock:
            self._usergroups[group] = list(users)

    def add_channel(self, channel: str) -> None:
        """Make ``channel`` exist (as if the bot had been invited to it)."""
        with self._lock:
            self._channels.setdefault(channel, [])

    # -- state for tests ----------------------------------------------------------------------

    @staticmethod
    def _public(m: Json) -> Json:
        keys = ("channel", "ts", "text", "blocks", "thread_ts", "metadata", "edits", "posted_at")
        out = copy.deepcopy({k: m[k] for k in keys})
        if m.get("files"):  # a file share: the ids; ``files()`` has the rest
            out["files"] = list(m["files"])
        return out

    def messages(self, channel: str | None = None) -> list[Json]:
        with self._lock:
            chans = [channel] if channel is not None else list(self._channels)
            found = [m for c in chans for m in self._channels.get(c, [])]
            return [self._public(m) for m in sorted(found, key=lambda m: ts_us(m["ts"]))]

    def roots(self, channel: str) -> list[Json]:
        return [m for m in self.messages(channel) if m["thread_ts"] in (None, m["ts"])]

    def replies(self, channel: str, thread_ts: str) -> list[Json]:
        return [
            m
            for m in self.messages(channel)
            if m["thread_ts"] == thread_ts and m["ts"] != thread_ts
        ]

    def calls(self, method: str | None = None) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method in (None, c["method"])]

    def rate_violations(self) -> list[str]:
        with self._lock:
            if self.channel_rate is not None:
                return list(self._refusals)
            found: list[str] = []
            allowed = self.channel_burst + 1
            for channel, times in self._post_times.items():
                i = 0
                while i < len(times):
                    j = i
                    while j < len(times) and times[j] - times[i] < 1.0:
                        j += 1
                    if j - i > allowed:
                        found.append(
                            f"{channel}: {j - i} posts within 1s (more than {allowed}) "
                            f"starting at t+{times[i] - self._started_at:.3f}s"
                        )
                        i = j
                    else:
                        i += 1
            return found

    def emulator_errors(self) -> list[str]:
        """Exceptions raised inside the emulator itself (answered as HTTP 500); should be []."""
        with self._lock:
            return list(self._bugs)

    def responses(self, name: str | None = None) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(b) for n, b in self._responses if name in (None, n)]

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response/{name}"

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10.0, message: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout, message))
            time.sleep(0.01)

    async def await_for(
        self, predicate: Callable[[], bool], timeout: float = 10.0, message: str = ""
    ) -> None:
        """``wait_for`` for async tests: yields to the test's loop instead of blocking it."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout, message))
            await asyncio.sleep(0.01)

    def _timeout_message(self, predicate: Callable[[], bool], timeout: float, message: str) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        recent = [f"{c['method']}->{c['status']} {c['error'] or 'ok'}" for c in self.calls()[-8:]]
        return (
            f"{message or name} not true within {timeout}s; {len(self.messages())} messages "
            f"in the emulator; last calls: {recent}"
        )

    # -- fault injection ----------------------------------------------------------------------

    def fail_next(
        self, method: str, count: int = 1, *, status: int = 500, error: str = "internal_error"
    ) -> None:
        with self._lock:
            self._faults.fail(method, count, status, error)

    def rate_limit_next(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._faults.rate_limit(method, count, retry_after)

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls are carried out at once but answered ``seconds`` late: a
        client that times out cannot tell whether its call landed (it did)."""
        with self._lock:
            self._faults.delay(method, seconds, count)

    def clear_faults(self) -> None:
        """Forget every queued failure, rate limit and delay: the service is healthy again."""
        with self._lock:
            self._faults.clear()

    # -- HTTP handlers ------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        arrived = time.monotonic()
        args: Json = dict(request.query)
        headers: dict[str, str] = {}
        body: Json
        delay = 0.0
        try:
            args.update(await read_body(request))
            form_token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.startswith("Bearer ") else form_token
            with self._lock:
                delay, fault = self._faults.take(method)
                if fault is not None:
                    raise ApiError(fault.error) if fault.status == 200 else FaultError(fault)
                status, body = 200, self._dispatch(method, args, token)
        except ApiError as exc:
            status, body = 200, {"ok": False, "error": exc.error}
            if exc.messages:
                body["response_metadata"] = {"messages": exc.messages}
        except RateLimited as exc:
            status, body = 429, {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(exc.retry_after)
        except FaultError as exc:
            status, body = exc.fault.status, {"ok": False, "error": exc.fault.error}
            if exc.fault.retry_after is not None:
                headers["Retry-After"] = str(exc.fault.retry_after)
        except Exception as exc:  # a bug in the emulator: answer like Slack's 500, keep it
            status, body = 500, {"ok": False, "error": "internal_error"}
            with self._lock:
                self._bugs.append(f"{method}: {type(exc).__name__}: {exc}")
        with self._lock:
            self._calls.append(
                {
                    "method": method,
                    "args": args,
                    "status": status,
                    "ok": bool(body.get("ok")),
                    "error": body.get("error"),
                    "at": arrived,
                }
            )
        if delay > 0 and self._stopping is not None:
            with contextlib.suppress(TimeoutError):  # stop() cuts the delay short
                await asyncio.wait_for(self._stopping.wait(), delay)
        return web.json_response(body, status=status, headers=headers)

    async def _handle_response(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        with self._lock:
            if sum(1 for n, _ in self._responses if n == name) >= RESPONSE_URL_USES:
                return web.Response(status=404, text="used_url")
            if not (body.get("text") or body.get("blocks") or body.get("delete_original")):
                return web.Response(status=400, text="no_text")
            if "blocks" in body and validate_blocks(body["blocks"]):
                return web.Response(status=400, text="invalid_blocks")
            self._responses.append((name, body))
        return web.Response(text="ok")
