"""A protocol-faithful Slack emulator for tests: a real HTTP server on 127.0.0.1.

It serves the Web API methods opsbot uses (``auth.test``, ``chat.postMessage``, ``chat.update``,
``conversations.history``, ``conversations.replies``, ``apps.connections.open``) under
``/api/<method>``, slash-command ``response_url`` endpoints under ``/response/<name>``, and a
Socket Mode websocket server (``slack_socket.py``). The real ``slack_sdk`` clients talk to it:

    with SlackEmulator() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)

It checks what Slack checks (tokens and token types, channels, threads, Block Kit limits,
metadata, per-channel posting rate) and answers in Slack's shapes: API errors are HTTP 200 with
``{"ok": false, "error": ...}``, rate limits are HTTP 429 with ``Retry-After``.

Everything runs on one event loop in a daemon thread; state is behind one lock, so tests may
read it from any thread while the bot is talking to the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.slack_socket import APP_ID, SocketModeServer

TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
MAX_BLOCKS = 50
MAX_TEXT = 40_000
RESPONSE_URL_USES = 5  # Slack: "up to 5 times within 30 minutes"

Json = dict[str, Any]


class _ApiError(Exception):
    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None = None


class _FaultError(Exception):
    def __init__(self, fault: _Fault) -> None:
        super().__init__(fault.error)
        self.fault = fault


# -- Block Kit validation -------------------------------------------------------------------

BLOCK_TYPES = {
    "actions", "context", "divider", "file", "header", "image", "input", "markdown",
    "rich_text", "section", "table", "video", "context_actions",
}  # fmt: skip


def _check_text(
    obj: Any, ptr: str, errors: list[str], limit: int, plain_only: bool = False
) -> None:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict):
        errors.append(f"[ERROR] must be a text object [json-pointer:{ptr}]")
        return
    if obj.get("type") not in allowed:
        errors.append(f"[ERROR] must be one of {list(allowed)} [json-pointer:{ptr}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"[ERROR] must be more than 0 characters [json-pointer:{ptr}/text]")
    elif len(text) > limit:
        errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{ptr}/text]")


def _check_elements(block: Json, ptr: str, errors: list[str], limit: int) -> list[Any]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{ptr}/elements]")
        return []
    if len(elements) > limit:
        errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{ptr}/elements]")
    for i, element in enumerate(elements):
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}/elements/{i}]")
    return elements


def _check_block(block: Json, ptr: str, errors: list[str]) -> None:
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"[ERROR] must provide either text or fields [json-pointer:{ptr}]")
        if "text" in block:
            _check_text(block["text"], f"{ptr}/text", errors, 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{ptr}/fields]")
            else:
                if len(fields) > 10:
                    errors.append(
                        f"[ERROR] no more than 10 items allowed [json-pointer:{ptr}/fields]"
                    )
                for i, field in enumerate(fields):
                    _check_text(field, f"{ptr}/fields/{i}", errors, 2000)
        accessory = block.get("accessory")
        if accessory is not None and not (isinstance(accessory, dict) and "type" in accessory):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}/accessory]")
    elif kind == "header":
        _check_text(block.get("text"), f"{ptr}/text", errors, 150, plain_only=True)
    elif kind == "context":
        for i, element in enumerate(_check_elements(block, ptr, errors, 10)):
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                _check_text(element, f"{ptr}/elements/{i}", errors, 3000)
    elif kind == "actions":
        for i, element in enumerate(_check_elements(block, ptr, errors, 25)):
            if isinstance(element, dict) and element.get("type") == "button":
                _check_text(element.get("text"), f"{ptr}/elements/{i}/text", errors, 75, True)
    elif kind == "image":
        if not isinstance(block.get("image_url"), str) and "slack_file" not in block:
            errors.append(f"[ERROR] missing required field: image_url [json-pointer:{ptr}]")
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not alt or len(alt) > 2000:
            errors.append(f"[ERROR] must be 1-2000 characters [json-pointer:{ptr}/alt_text]")
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text or len(text) > 12000:
            errors.append(f"[ERROR] must be 1-12000 characters [json-pointer:{ptr}/text]")


def validate_blocks(blocks: Any) -> list[str]:
    """Slack's ``response_metadata.messages`` for these blocks; empty when they are valid."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}]")
            continue
        if block["type"] not in BLOCK_TYPES:
            errors.append(f"[ERROR] unsupported type: {block['type']} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"[ERROR] must be 1-255 characters [json-pointer:{ptr}/block_id]")
            elif block_id in block_ids:
                errors.append(f"[ERROR] duplicate block_id [json-pointer:{ptr}/block_id]")
            else:
                block_ids.add(block_id)
        _check_block(block, ptr, errors)
    return errors


async def _drain(tasks: Iterable[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


# -- argument helpers -----------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _json_arg(value: Any, bad_format: str) -> Any:
    """``blocks``/``metadata``/``attachments`` arrive as JSON values or as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(bad_format) from None
    return value


def _ts_us(ts: str) -> int:
    return int(Decimal(ts) * 1_000_000)


def _ts_str(us: int) -> str:
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def _ts_bound(value: Any, error: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return _ts_us(str(value))
    except (InvalidOperation, ValueError):
        raise _ApiError(error) from None


def _limit(value: Any, default: int, maximum: int) -> int:
    try:
        limit = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise _ApiError("invalid_limit") from None
    return default if limit <= 0 else min(limit, maximum)


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: Any) -> int | None:
    if cursor in (None, ""):
        return None
    try:
        prefix, _, digits = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if prefix != "next_ts" or not digits.isdigit():
            raise ValueError(cursor)
        return int(digits)
    except ValueError:
        raise _ApiError("invalid_cursor") from None


class SlackEmulator:
    def __init__(
        self,
        bot_token: str = "xoxb-test-token",  # noqa: S107
        app_token: str = "xapp-test-token",  # noqa: S107
        channels: Iterable[str] = ("C0INCIDENT",),
        channel_rate: float | None = None,
        channel_burst: int = 5,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.channel_rate = channel_rate
        self.channel_burst = channel_burst
        self._lock = threading.RLock()
        self._channels: dict[str, list[Json]] = {c: [] for c in channels}  # ts order
        self._by_ts: dict[tuple[str, str], Json] = {}
        self._threads: dict[tuple[str, str], list[Json]] = defaultdict(list)  # replies, ts order
        self._last_ts_us = 0
        self._calls: list[Json] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._post_times: dict[str, list[float]] = defaultdict(list)
        self._refusals: list[str] = []
        self._responses: list[tuple[str, Json]] = []
        self._bugs: list[str] = []
        self._socket = SocketModeServer(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._started_at = time.monotonic()
        self._url = ""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        if self._loop is not None:
            raise RuntimeError("SlackEmulator already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="slack-emulator", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(10)
        except BaseException:
            self.stop()
            raise
        self._started_at = time.monotonic()
        return self

    async def _astart(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{port}"
        await self._socket.start()

    async def _astop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        await self._socket.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

            def close_loop() -> None:
                leftover = asyncio.all_tasks(loop)
                for task in leftover:
                    task.cancel()
                if leftover:
                    loop.run_until_complete(_drain(leftover))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

            # In a thread of its own: the caller may be an async test with a loop running.
            closer = threading.Thread(target=close_loop, name="slack-emulator-close")
            closer.start()
            closer.join(15)
            self._loop = self._thread = None

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("SlackEmulator not started")
        return self._url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def ws_url(self) -> str:
        if not self._socket.url:
            raise RuntimeError("SlackEmulator not started")
        return self._socket.url

    def add_channel(self, channel: str) -> None:
        """Make ``channel`` exist (as if the bot had been invited to it)."""
        with self._lock:
            self._channels.setdefault(channel, [])

    # -- state for tests ----------------------------------------------------------------------

    @staticmethod
    def _public(m: Json) -> Json:
        keys = ("channel", "ts", "text", "blocks", "thread_ts", "metadata", "edits", "posted_at")
        return copy.deepcopy({k: m[k] for k in keys})

    def messages(self, channel: str | None = None) -> list[Json]:
        with self._lock:
            chans = [channel] if channel is not None else list(self._channels)
            found = [m for c in chans for m in self._channels.get(c, [])]
            return [self._public(m) for m in sorted(found, key=lambda m: _ts_us(m["ts"]))]

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
            self._faults[method].extend(_Fault(status, error) for _ in range(count))

    def rate_limit_next(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._faults[method].extend(
                _Fault(429, "ratelimited", retry_after) for _ in range(count)
            )

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls are carried out at once but answered ``seconds`` late: a
        client that times out cannot tell whether its call landed (it did)."""
        with self._lock:
            self._delays[method].extend(seconds for _ in range(count))

    def clear_faults(self) -> None:
        """Forget every queued failure, rate limit and delay: the service is healthy again."""
        with self._lock:
            self._delays.clear()
            self._faults.clear()

    # -- Socket Mode ----------------------------------------------------------------------------

    def push_envelope(
        self,
        envelope_type: str,
        payload: Json,
        *,
        accepts_response_payload: bool = False,
        timeout: float = 5.0,
    ) -> Json:
        """Send an envelope to the newest socket-mode client and return its ack (blocking)."""
        coro = self._socket.push(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            timeout=timeout,
        )
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop()).result(timeout + 5)

    async def apush_envelope(
        self,
        envelope_type: str,
        payload: Json,
        *,
        accepts_response_payload: bool = False,
        timeout: float = 5.0,
    ) -> Json:
        """``push_envelope`` for async tests whose own loop runs the socket-mode client."""
        coro = self._socket.push(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            timeout=timeout,
        )
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        )

    def wait_for_socket_client(self, timeout: float = 10.0) -> None:
        self.wait_for(lambda: self._socket.client_count() > 0, timeout, "a socket-mode client")

    async def await_for_socket_client(self, timeout: float = 10.0) -> None:
        await self.await_for(
            lambda: self._socket.client_count() > 0, timeout, "a socket-mode client"
        )

    def socket_clients(self) -> int:
        """How many socket-mode clients are connected (hello sent) right now."""
        return self._socket.client_count()

    def socket_messages(self) -> list[Json]:
        """Every message socket-mode clients sent (acks), oldest first."""
        return self._socket.received()

    def disconnect_socket_clients(self, reason: str = "refresh_requested") -> int:
        """Send Slack's ``{"type": "disconnect"}`` to every client; returns how many."""
        coro = self._socket.send_disconnect(reason)
        return asyncio.run_coroutine_threadsafe(coro, self._running_loop()).result(10)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("SlackEmulator not started")
        return self._loop

    # -- HTTP handlers ------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        arrived = time.monotonic()
        args: Json = dict(request.query)
        headers: dict[str, str] = {}
        body: Json
        delay = 0.0
        try:
            args.update(await self._read_body(request))
            form_token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.startswith("Bearer ") else form_token
            with self._lock:
                delays, faults = self._delays.get(method), self._faults.get(method)
                delay = delays.popleft() if delays else 0.0
                fault = faults.popleft() if faults else None
                if fault is not None:
                    raise _ApiError(fault.error) if fault.status == 200 else _FaultError(fault)
                status, body = 200, self._dispatch(method, args, token)
        except _ApiError as exc:
            status, body = 200, {"ok": False, "error": exc.error}
            if exc.messages:
                body["response_metadata"] = {"messages": exc.messages}
        except _RateLimited as exc:
            status, body = 429, {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(exc.retry_after)
        except _FaultError as exc:
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

    @staticmethod
    async def _read_body(request: web.Request) -> Json:
        if request.method not in ("POST", "PUT"):
            return {}
        if request.content_type == "application/json":
            try:
                data = json.loads(await request.read() or b"{}")
            except ValueError:
                raise _ApiError("invalid_json") from None
            if not isinstance(data, dict):
                raise _ApiError("json_not_object")
            data.pop("token", None)  # Slack ignores a token in a JSON body: header only
            return data
        form = await request.post()
        return {k: v if isinstance(v, str) else str(v) for k, v in form.items()}

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

    # -- Web API methods (called with the lock held) ---------------------------------------------

    def _dispatch(self, method: str, args: Json, token: str | None) -> Json:
        handlers: dict[str, Callable[[Json], Json]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "apps.connections.open": self._connections_open,
        }
        handler = handlers.get(method)
        if handler is None:
            raise _ApiError("unknown_method")
        if not token:
            raise _ApiError("not_authed")
        wanted, other = (
            (self.app_token, self.bot_token)
            if method == "apps.connections.open"
            else (self.bot_token, self.app_token)
        )
        if token == other:
            raise _ApiError("not_allowed_token_type")
        if token != wanted:
            raise _ApiError("invalid_auth")
        return handler(args)

    def _auth_test(self, args: Json) -> Json:
        return {
            "ok": True,
            "url": "https://opsbot-test.slack.com/",
            "team": "opsbot-test",
            "user": "opsbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _connections_open(self, args: Json) -> Json:
        return {"ok": True, "url": self._socket.url}

    def _channel(self, args: Json) -> str:
        channel = args.get("channel")
        if not isinstance(channel, str) or channel not in self._channels:
            raise _ApiError("channel_not_found")
        return channel

    def _content(self, args: Json) -> tuple[list[Json] | None, Json | None]:
        """Validated ``blocks`` and ``metadata`` of a post or an update (None when absent)."""
        blocks = None
        if args.get("blocks") not in (None, ""):
            blocks = _json_arg(args["blocks"], "invalid_blocks_format")
            if not isinstance(blocks, list):
                raise _ApiError("invalid_blocks_format")
            errors = validate_blocks(blocks)
            if errors:
                raise _ApiError("invalid_blocks", errors)
        if args.get("attachments") not in (None, ""):
            attachments = _json_arg(args["attachments"], "invalid_attachments")
            if not isinstance(attachments, list):
                raise _ApiError("invalid_attachments")
        metadata = None
        if args.get("metadata") not in (None, ""):
            metadata = _json_arg(args["metadata"], "invalid_metadata_format")
            if not isinstance(metadata, dict):
                raise _ApiError("invalid_metadata_format")
            if not isinstance(metadata.get("event_type"), str) or not isinstance(
                metadata.get("event_payload"), dict
            ):
                raise _ApiError("invalid_metadata_schema")
        text = args.get("text")
        if text is not None and len(str(text)) > MAX_TEXT:
            raise _ApiError("msg_too_long")
        return blocks, metadata

    def _take_token(self, channel: str) -> None:
        now = time.monotonic()
        if self.channel_rate is None:
            return
        tokens, at = self._buckets.get(channel, (float(self.channel_burst), now))
        tokens = min(float(self.channel_burst), tokens + (now - at) * self.channel_rate)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            self._refusals.append(
                f"{channel}: chat.postMessage refused at t+{now - self._started_at:.3f}s "
                f"(rate {self.channel_rate}/s, burst {self.channel_burst})"
            )
            raise _RateLimited(1)
        self._buckets[channel] = (tokens - 1.0, now)

    def _next_ts(self) -> str:
        us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = us
        return _ts_str(us)

    def _post_message(self, args: Json) -> Json:
        channel = self._channel(args)
        self._take_token(channel)
        blocks, metadata = self._content(args)
        text = str(args.get("text") or "")
        if not text and not blocks and args.get("attachments") in (None, "", "[]", []):
            raise _ApiError("no_text")
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            parent = self._by_ts.get((channel, str(thread_ts)))
            if parent is None or parent["thread_ts"] is not None:
                raise _ApiError("thread_not_found")
            thread_ts = str(thread_ts)
        message: Json = {
            "channel": channel,
            "ts": self._next_ts(),
            "text": text,
            "blocks": blocks or [],
            "thread_ts": thread_ts,
            "metadata": metadata,
            "edits": 0,
            "posted_at": time.monotonic(),
            "broadcast": bool(thread_ts) and _truthy(args.get("reply_broadcast")),
            "edited_ts": None,
        }
        self._channels[channel].append(message)
        self._by_ts[(channel, message["ts"])] = message
        if thread_ts is not None:
            self._threads[(channel, thread_ts)].append(message)
        self._post_times[channel].append(message["posted_at"])
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._render(message, include_metadata=True),
        }

    def _update(self, args: Json) -> Json:
        channel = self._channel(args)
        message = self._by_ts.get((channel, str(args.get("ts") or "")))
        if message is None:
            raise _ApiError("message_not_found")
        blocks, metadata = self._content(args)
        # Omitted fields keep their old value; an empty ``blocks`` list removes the blocks.
        text = str(args["text"] or "") if "text" in args else message["text"]
        blocks = message["blocks"] if blocks is None else blocks
        if not text and not blocks:
            raise _ApiError("no_text")
        message.update(text=text, blocks=blocks, edits=message["edits"] + 1)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited_ts"] = self._next_ts()
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._render(message, include_metadata=True),
        }

    def _thread_of(self, channel: str, root_ts: str) -> list[Json]:
        return self._threads.get((channel, root_ts), [])

    def _render(self, m: Json, *, include_metadata: bool) -> Json:
        out: Json = {
            "type": "message",
            "text": m["text"],
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": m["ts"],
        }
        if m["blocks"]:
            out["blocks"] = copy.deepcopy(m["blocks"])
        if m["thread_ts"]:
            out["thread_ts"] = m["thread_ts"]
            out["parent_user_id"] = BOT_USER_ID
            if m["broadcast"]:
                out["subtype"] = "thread_broadcast"
        else:
            thread = self._thread_of(m["channel"], m["ts"])
            if thread:
                out.update(
                    thread_ts=m["ts"],
                    reply_count=len(thread),
                    reply_users_count=1,
                    latest_reply=thread[-1]["ts"],
                    reply_users=[BOT_USER_ID],
                    is_locked=False,
                    subscribed=False,
                )
        if m["edited_ts"]:
            out["edited"] = {"user": BOT_USER_ID, "ts": m["edited_ts"]}
        if include_metadata and m["metadata"] is not None:
            out["metadata"] = copy.deepcopy(m["metadata"])
        return out

    @staticmethod
    def _window(args: Json, messages: list[Json]) -> list[Json]:
        oldest = _ts_bound(args.get("oldest"), "invalid_ts_oldest")
        latest = _ts_bound(args.get("latest"), "invalid_ts_latest")
        inclusive = _truthy(args.get("inclusive"))

        def inside(m: Json) -> bool:
            us = _ts_us(m["ts"])
            if oldest is not None and (us < oldest or (us == oldest and not inclusive)):
                return False
            return latest is None or us < latest or (us == latest and inclusive)

        return [m for m in messages if inside(m)]

    def _history(self, args: Json) -> Json:
        channel = self._channel(args)
        limit = _limit(args.get("limit"), 100, 999)
        start = _decode_cursor(args.get("cursor"))
        found = [m for m in self._channels[channel] if m["thread_ts"] is None or m["broadcast"]]
        found = self._window(args, found)[::-1]  # newest first
        if start is not None:
            found = [m for m in found if _ts_us(m["ts"]) <= start]
        page, rest = found[:limit], found[limit:]
        meta = _truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, include_metadata=meta) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": _encode_cursor(rest[0]["ts"]) if rest else ""},
        }

    def _replies(self, args: Json) -> Json:
        channel = self._channel(args)
        root = self._by_ts.get((channel, str(args.get("ts") or "")))
        if root is None:
            raise _ApiError("thread_not_found")
        if root["thread_ts"] is not None:  # a reply's ts names its whole thread
            root = self._by_ts[(channel, root["thread_ts"])]
        limit = _limit(args.get("limit"), 1000, 1000)
        start = _decode_cursor(args.get("cursor"))
        found = self._window(args, self._thread_of(channel, root["ts"]))
        if start is not None:
            found = [m for m in found if _ts_us(m["ts"]) >= start]
        page, rest = found[:limit], found[limit:]
        meta = _truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, include_metadata=meta) for m in [root, *page]],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _encode_cursor(rest[0]["ts"]) if rest else ""},
        }
