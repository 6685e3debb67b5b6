"""A protocol-faithful fake of OpenAI's Chat Completions API: a real HTTP server on 127.0.0.1.

    with OpenAIFake() as fake:
        fake.script(reply_json({"summary": "..."}), rate_limited(2), reply_text("hi"))
        client = OpenAI(api_key=fake.api_key, base_url=fake.base_url)

``POST /v1/chat/completions`` checks what the API checks before a model runs: the bearer key
(401), a JSON body with ``model`` and a non-empty ``messages`` list of known roles, tool
messages that answer the ``tool_call_id``s of the assistant message before them (and every
one of them answered), ``tools``, ``tool_choice``, ``response_format`` (for a strict JSON schema,
every object closed with ``additionalProperties: false`` and every property required), and
``max_completion_tokens`` (400). Errors are ``{"error": {"message", "type", "param", "code"}}``
with the API's own wording where it is known; the checks are in ``requests.py``.

What the model says is scripted by the test: ``script(*responders)`` queues answers, one per
request, and ``always(responder)`` answers every request after the queue runs out; a responder
is a ``Reply`` or a function of the request body returning one. The helpers below build the
usual replies. The fake never fixes a scripted answer up (schema-invalid JSON is returned as
is); it only cuts content longer than ``max_completion_tokens`` (finish_reason ``length``), as
the API would. With nothing scripted it answers 500 "no scripted reply". ``requests`` holds
every parsed request body, in order, including the refused ones; ``statuses`` the status of
every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from tests.fakes.openai.requests import Invalid, api_error, validate
from tests.fakes.server import ThreadedServer

__all__ = [
    "OpenAIFake",
    "Reply",
    "hang",
    "length_cut",
    "rate_limited",
    "reply_json",
    "reply_malformed",
    "reply_refusal",
    "reply_text",
    "reply_tool_calls",
    "server_error",
]

Json = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a completion (``status`` 200) or an API error."""

    status: int = 200
    content: str | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments as sent: a JSON string)
    refusal: str | None = None
    finish_reason: str | None = None  # default: "tool_calls" if any, else "stop"
    error: Json | None = None  # the ``error`` object of a non-200 answer
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; default from lengths


Responder = Reply | Callable[[Json], Reply]


def reply_text(text: str) -> Reply:
    return Reply(content=text)


def reply_json(obj: Any) -> Reply:
    return Reply(content=json.dumps(obj))


def reply_malformed(raw_content: str) -> Reply:
    return Reply(content=raw_content)


def reply_tool_calls(calls: Iterable[tuple[str, Any]], content: str | None = None) -> Reply:
    """Tool calls; an argument that is not a string is sent as its JSON."""
    sent = tuple((name, a if isinstance(a, str) else json.dumps(a)) for name, a in calls)
    return Reply(content=content, tool_calls=sent)


def reply_refusal(text: str) -> Reply:
    return Reply(refusal=text)


def length_cut(content: str = '{"summary": "the answer was cut') -> Reply:
    return Reply(content=content, finish_reason="length")


def rate_limited(retry_after_s: float) -> Reply:
    message = (
        "Rate limit reached for requests in organization org-fake on requests per min (RPM): "
        f"Limit 3, Used 3, Requested 1. Please try again in {retry_after_s:g}s."
    )
    return Reply(
        status=429,
        error=api_error(message, "requests", None, "rate_limit_exceeded"),
        headers={
            "retry-after": f"{retry_after_s:g}",
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{retry_after_s:g}s",
        },
    )


def server_error(status: int = 500) -> Reply:
    message = (
        "The engine is currently overloaded, please try again later."
        if status == 503
        else "The server had an error while processing your request. Sorry about that!"
    )
    return Reply(status=status, error=api_error(message, "server_error"))


def hang(seconds: float, then: Reply | None = None) -> Reply:
    """Wait ``seconds`` before answering (``then``, by default a short text)."""
    return replace(then or reply_text("(a late answer)"), delay_s=seconds)


class OpenAIFake(ThreadedServer):
    _thread_name = "openai-fake"
    # A client that timed out and hung up ends a hanging answer.
    _handler_cancellation = True

    def __init__(self, api_key: str = "sk-fake-0123456789abcdef") -> None:
        super().__init__()
        self.api_key = api_key
        self._lock = threading.Lock()
        self._queue: deque[Responder] = deque()
        self._always: Responder | None = None
        self._requests: list[Json] = []
        self._statuses: list[int] = []
        self._ids = itertools.count(1)

    # -- what tests drive and read --------------------------------------------------------------

    def script(self, *responders: Responder) -> None:
        with self._lock:
            self._queue.extend(responders)

    def always(self, responder: Responder) -> None:
        with self._lock:
            self._always = responder

    @property
    def requests(self) -> list[Json]:
        with self._lock:
            return list(self._requests)

    @property
    def statuses(self) -> list[int]:
        """The HTTP status of every answer sent, in order (not of requests still waiting)."""
        with self._lock:
            return list(self._statuses)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # -- lifecycle ------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    # -- the API ----------------------------------------------------------------------------------

    async def _unknown(self, request: web.Request) -> web.Response:
        message = f"Invalid URL ({request.method} {request.path})"
        return _json({"error": api_error(message, "invalid_request_error")}, 404)

    async def _completions(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if isinstance(body, dict):
            with self._lock:
                self._requests.append(body)
        response = await self._answer(request, body)
        with self._lock:
            self._statuses.append(response.status)
        return response

    async def _answer(self, request: web.Request, body: Any) -> web.Response:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not key:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return _json({"error": api_error(message, "invalid_request_error")}, 401)
        if key != self.api_key:
            message = f"Incorrect API key provided: {_mask(key)}."
            error = api_error(message, "invalid_request_error", None, "invalid_api_key")
            return _json({"error": error}, 401)
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return _json({"error": api_error(message, "invalid_request_error")}, 400)
        try:
            validate(body)
        except Invalid as bad:
            return _json({"error": bad.error}, 400)
        reply = self._next(body)
        if reply.delay_s > 0 and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay_s)
        headers = {"x-request-id": f"req_{next(self._ids):024x}", **reply.headers}
        if reply.status != 200:
            error = reply.error or api_error("scripted error", "server_error")
            return _json({"error": error}, reply.status, headers)
        return _json(self._completion(body, reply), 200, headers)

    def _next(self, body: Json) -> Reply:
        with self._lock:
            responder = self._queue.popleft() if self._queue else self._always
        if responder is None:
            return Reply(status=500, error=api_error("no scripted reply", "server_error"))
        return responder if isinstance(responder, Reply) else responder(body)

    def _completion(self, body: Json, reply: Reply) -> Json:
        content, finish = reply.content, reply.finish_reason
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if content is not None and limit and _tokens(content) > limit:
            content, finish = content[: limit * 4], "length"
        calls = [
            {
                "id": f"call_{next(self._ids):024x}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for name, arguments in reply.tool_calls
        ]
        message: Json = {"role": "assistant", "content": content, "refusal": reply.refusal}
        if calls:
            message["tool_calls"] = calls
        message["annotations"] = []
        sent = json.dumps([body["messages"], body.get("tools"), body.get("response_format")])
        said = json.dumps([content, reply.refusal, reply.tool_calls])
        prompt, completion = reply.usage or (_tokens(sent), _tokens(said))
        return {
            "id": f"chatcmpl-{next(self._ids):024x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish or ("tool_calls" if calls else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake0000",
        }


# -- helpers --------------------------------------------------------------------------------------


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _mask(key: str) -> str:
    """As the API shows a wrong key: the first and last four characters."""
    return f"{key[:4]}{'*' * max(0, len(key) - 8)}{key[-4:]}" if len(key) > 8 else "***"


def _json(payload: Json, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers)
