"""The LLM adapter: the only place opsbot meets the ``openai`` client (Chat Completions).

``LLMClient.structured`` asks for an answer shaped like a pydantic model (strict JSON schema
output where the server takes it) and returns the validated model; ``LLMClient.tool_turn``
makes one call with function tools and returns the text and the tool calls. Any failure comes
back as ``LLMUnavailable`` (``ExternalServiceError("llm", operation, status, detail)``), and
callers fall back to templates: an outage, a timeout, a 429 past the retries, a 4xx, malformed
or schema-invalid JSON, a refusal, an answer cut off at the token limit, or a ``TokenBudget``
that would be exceeded (``BudgetExceeded``, raised before any request is sent). The detail is
one line and never holds the API key; the exception is raised with no ``__cause__`` or
``__context__``, since the ``openai`` exception holds the request and its ``Authorization``
header.

Retries, decided here (the ``openai`` client is built with ``max_retries=0``): a 429, a 5xx, a
timeout and a failed connection are retried at most ``max_retries`` times, with exponential
backoff and jitter, or after the wait ``Retry-After`` (or ``retry-after-ms``) asks for. A wait
asked for that is longer than ``max_retry_wait_s`` is not waited: the call fails at once. Other
4xx (400, 401, 403, 404) are final.

Servers other than OpenAI (``bot/clients/llm_support.py``, ``LLMClient.support``): the output
cap goes as ``max_tokens`` (understood everywhere; ``max_completion_tokens`` only when a server
refuses the first); structured output steps down from a strict JSON schema to ``json_object``
with the schema in the prompt, then to plain text parsed as JSON, within one call, and the next
call starts where the last ended; a server that refuses tool calls is said once and asked no
more. A refused request field is never retried. ``tool_turn(interactive=True)``: someone waits,
so a timeout is final.

Budget: ``reserve`` holds the prompt estimate plus ``max_output_tokens`` before a call;
``record`` replaces the hold by the ``usage.total_tokens`` the answer reports. A call refused
with an HTTP error costs nothing; one that timed out is charged its hold (it may have run).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import openai
from openai.lib import type_to_response_format_param
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity import wait_exponential_jitter as backoff

from bot.clients.llm_support import (
    Feature,
    ServerSupport,
    Structured,
    json_in_text,
    refused_feature,
    schema_instruction,
)
from bot.clients.retry_after import retry_after_s
from bot.errors import ExternalServiceError
from bot.text.untrusted import redact

log = logging.getLogger(__name__)

SYSTEM = "llm"
DEFAULT_MODEL = "gpt-4o-mini"
DETAIL_MAX = 300
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators around each chat message
MIN_SECRET_KEY = 12  # a shorter API key is a placeholder (self-hosted servers take any)

M = TypeVar("M", bound=BaseModel)


class LLMUnavailable(ExternalServiceError):
    """The LLM gave no usable answer: outage, timeout, 429 past the retries, malformed or
    schema-invalid output, refusal, or the token budget would be exceeded. Callers fall back
    to templates."""


class FeatureRefused(LLMUnavailable):
    """The server refused a field of the request (``feature``): the output cap's field,
    ``response_format`` or ``tools`` (``bot/clients/llm_support.py``)."""

    def __init__(self, *args: Any, feature: Feature) -> None:
        super().__init__(*args)
        self.feature = feature


class AnswerCutOff(LLMUnavailable):
    """The answer stopped at the output cap (or the content filter): the server answered, and
    what it gave is not used. ``with_tool_calls``: whether the cut-off message held any."""

    def __init__(self, *args: Any, with_tool_calls: bool) -> None:
        super().__init__(*args)
        self.with_tool_calls = with_tool_calls


class BudgetExceeded(LLMUnavailable):
    """The call could spend more tokens than the budget has left; nothing was sent."""


def estimate_tokens(text: str) -> int:
    """A rough token count: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def estimate_messages_tokens(messages: list[dict[str, Any]]) -> int:
    """Rough prompt tokens of chat messages (their JSON, plus a little per message)."""
    return sum(
        estimate_tokens(json.dumps(message, default=str)) + MESSAGE_OVERHEAD_TOKENS
        for message in messages
    )


class TokenBudget:
    """Tokens one piece of work (a summary, a triage answer) may spend, all calls together."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        self.limit = limit
        self.spent = 0
        self._held: list[int] = []  # reservations of calls in flight, oldest first
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.spent - sum(self._held))

    def reserve(self, prompt_tokens_estimate: int, max_output_tokens: int) -> None:
        """Hold tokens for one call, or raise ``BudgetExceeded`` if they would not fit."""
        need = max(0, prompt_tokens_estimate) + max(0, max_output_tokens)
        with self._lock:
            left = self.remaining
            if need > left:
                raise BudgetExceeded(
                    SYSTEM,
                    "budget",
                    None,
                    f"a call needs up to {need} tokens, {left} of {self.limit} are left",
                )
            self._held.append(need)

    def record(self, usage_total_tokens: int) -> None:
        """After a call: its actual usage replaces its reservation."""
        with self._lock:
            if self._held:
                self._held.pop(0)
            self.spent += max(0, usage_total_tokens)

    def release(self) -> None:
        """After a call that cost nothing (refused before the model ran): drop its hold."""
        with self._lock:
            if self._held:
                self._held.pop(0)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] | None  # None when the model's JSON did not parse to an object
    raw_arguments: str


@dataclass(frozen=True)
class ToolTurn:
    content: str | None
    tool_calls: list[ToolCall]
    total_tokens: int
    assistant_message: dict[str, Any]  # to append to ``messages`` before the tool results


class LLMClient:
    """Chat Completions on one model, with opsbot's retries, budget and errors."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout_s: float = 20.0,
        max_retries: int = 3,
        max_retry_wait_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.model = model
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._max_retries = max(0, max_retries)
        self._max_wait = max_retry_wait_s
        self._sleep = sleep
        self._backoff = backoff(multiplier=0.5, max=max_retry_wait_s, jitter=0.5)
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )
        self.support = ServerSupport()  # what this server takes, learned as it answers

    def structured(
        self,
        *,
        system: str,
        user: str,
        schema: type[M],
        budget: TokenBudget,
        max_output_tokens: int = 1200,
        purpose: str = "",
    ) -> M:
        """The model's answer to ``system`` + ``user``, validated as ``schema``.

        Asked the way this server takes (``ServerSupport.structured``): a strict JSON schema,
        else ``json_object`` with the schema in the prompt, else plain text parsed as JSON; a
        server that refuses one way is asked the next within this call. The answer is
        validated against ``schema`` whichever way it came."""
        operation = f"structured:{purpose}" if purpose else "structured"
        mode: Structured | None = self.support.structured
        while mode is not None:
            try:
                return self._structured_as(
                    mode, operation, system, user, schema, budget, max_output_tokens
                )
            except FeatureRefused as exc:
                if exc.feature != "response_format":
                    raise
                mode = self.support.step_down(mode, exc.detail)
        raise self._failure(operation, None, "the server takes no form of structured output")

    def _structured_as(
        self,
        mode: Structured,
        operation: str,
        system: str,
        user: str,
        schema: type[M],
        budget: TokenBudget,
        max_output_tokens: int,
    ) -> M:
        extra: dict[str, Any] = {}
        if mode == "json_schema":
            extra["response_format"] = type_to_response_format_param(schema)
        else:
            system = f"{system}\n\n{schema_instruction(schema.model_json_schema())}"
            if mode == "json_object":
                extra["response_format"] = {"type": "json_object"}
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        estimate = estimate_messages_tokens(messages) + estimate_tokens(json.dumps(extra))
        budget.reserve(estimate, max_output_tokens)
        completion = self._complete(
            operation, budget, estimate + max_output_tokens, max_output_tokens,
            messages=messages, **extra,
        )  # fmt: skip
        message = completion.choices[0].message
        failure: str | None = None
        if message.refusal:
            failure = f"the model refused: {message.refusal}"
        elif not message.content:
            failure = "the answer has no content"
        else:
            content = message.content if mode == "json_schema" else json_in_text(message.content)
            try:
                return schema.model_validate_json(content)
            except ValidationError as exc:
                failure = _validation_detail(exc, schema)
                if mode != "json_schema":
                    failure += f" (asked as {mode})"
        raise self._failure(operation, 200, failure)

    def tool_turn(
        self,
        *,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        budget: TokenBudget,
        max_output_tokens: int = 800,
        interactive: bool = False,
    ) -> ToolTurn:
        """One call with ``tools`` (``tool_choice="auto"``): the text and the tool calls.
        ``interactive``: someone is waiting; a timeout is not retried."""
        operation = "tool_turn"
        if self.support.tools is False:  # said once in the log when it was learned
            detail = f"tool calls are not supported: {self.support.tools_reason}"
            raise LLMUnavailable(SYSTEM, operation, None, _one_line(detail))
        estimate = estimate_messages_tokens(messages) + estimate_tokens(json.dumps(tools))
        budget.reserve(estimate, max_output_tokens)
        try:
            completion = self._complete(
                operation, budget, estimate + max_output_tokens, max_output_tokens,
                messages=messages, tools=tools, tool_choice="auto",
                interactive=interactive,
            )  # fmt: skip
        except FeatureRefused as exc:
            if exc.feature == "tools":
                self.support.no_tools(f"the server refused them: {exc.detail}")
            raise
        except AnswerCutOff as exc:
            # Text up to the cap, no tool call, nothing read yet: a model that ignores tools
            # and rambles looks like this (counted as an answer given without reading).
            if not exc.with_tool_calls and not any(m.get("role") == "tool" for m in messages):
                self.support.answered_unread()
            raise
        message = completion.choices[0].message
        if message.refusal:
            raise self._failure(operation, 200, f"the model refused: {message.refusal}")
        calls = _tool_calls(message)
        if not calls and not message.content:
            raise self._failure(operation, 200, "the answer has neither text nor tool calls")
        assistant: dict[str, Any] = {"role": "assistant", "content": message.content}
        if calls:
            assistant["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.raw_arguments},
                }
                for call in calls
            ]
        usage = completion.usage
        return ToolTurn(message.content, calls, usage.total_tokens if usage else 0, assistant)

    def close(self) -> None:
        self._client.close()

    # -- the call, its retries and its errors ------------------------------------------------

    def _complete(
        self,
        operation: str,
        budget: TokenBudget,
        hold: int,
        max_output_tokens: int,
        *,
        interactive: bool = False,
        **params: Any,
    ) -> ChatCompletion:
        """One chat completion, retried; settles the budget's ``hold`` for it; an answer cut
        off at the token limit or by the content filter is a failure. The output cap goes in
        the field the server honours; a server that refuses that field is asked again with
        the other one. A request field the server refuses raises ``FeatureRefused``."""
        while True:
            cap = self.support.cap(max_output_tokens)
            try:
                return self._complete_once(operation, budget, hold, interactive, **params, **cap)
            except FeatureRefused as exc:
                if exc.feature != "max_tokens" or not self.support.refused_cap(next(iter(cap))):
                    raise
                budget.reserve(0, hold)  # the refused call released its hold; ask again

    def _complete_once(
        self, operation: str, budget: TokenBudget, hold: int, interactive: bool, **params: Any
    ) -> ChatCompletion:
        retrying = Retrying(
            stop=self._stop_interactive if interactive else self._stop,
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        create = cast(Callable[..., ChatCompletion], self._client.chat.completions.create)
        failure: LLMUnavailable | None = None
        try:
            completion = retrying(create, model=self.model, **params)
        except openai.OpenAIError as exc:
            attempts = int(retrying.statistics.get("attempt_number", 1))
            if isinstance(exc, openai.APITimeoutError):
                budget.record(hold)  # the model may have run and been paid for
            else:
                budget.release()
            feature = refused_feature(exc)
            if feature is not None and isinstance(exc, openai.APIStatusError):
                failure = self._refused(operation, exc, feature)
            else:
                failure = self._error(operation, exc, attempts)
        if failure is not None:
            raise failure  # outside the except block: no __context__ holding the request
        usage = completion.usage
        budget.record(usage.total_tokens if usage else hold)
        if not completion.choices:
            raise self._failure(operation, 200, "the answer has no choices")
        if completion.choices[0].finish_reason in ("length", "content_filter"):
            choice = completion.choices[0]
            detail = f"the answer was cut off ({choice.finish_reason})"
            log.warning("llm %s failed (200): %s", operation, detail)
            called = bool(choice.message.tool_calls)
            raise AnswerCutOff(SYSTEM, operation, 200, detail, with_tool_calls=called)
        return completion

    def _refused(
        self, operation: str, exc: openai.APIStatusError, feature: Feature
    ) -> FeatureRefused:
        detail = _one_line(
            redact(self._without_key(f"HTTP {exc.status_code}: {_api_message(exc)}"))
        )
        log.info("llm %s: the server refuses %s: %s", operation, feature, detail)
        return FeatureRefused(SYSTEM, operation, exc.status_code, detail, feature=feature)

    def _wait(self, state: RetryCallState) -> float:
        asked = _retry_after(_outcome_error(state))
        return asked if asked is not None else float(self._backoff(state))

    def _stop_interactive(self, state: RetryCallState) -> bool:
        """Someone waits: a timeout is final (the next try would take as long again)."""
        if isinstance(_outcome_error(state), openai.APITimeoutError):
            return True
        return self._stop(state)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number > self._max_retries:
            return True
        asked = _retry_after(_outcome_error(state))
        return asked is not None and asked > self._max_wait  # give up rather than wait that long

    def _error(self, operation: str, exc: openai.OpenAIError, attempts: int) -> LLMUnavailable:
        tries = f"after {attempts} attempts" if attempts > 1 else "on the first attempt"
        if isinstance(exc, openai.APITimeoutError):
            return self._failure(operation, None, f"no answer within {self.timeout_s:g} s, {tries}")
        if isinstance(exc, openai.APIConnectionError):
            return self._failure(operation, None, f"cannot connect: {exc.message}, {tries}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            said = f"HTTP {status}: {_api_message(exc)}"
            asked = _retry_after(exc)
            if status == 429 and asked is not None and asked > self._max_wait:
                said += f" (asked to wait {asked:g} s, more than the {self._max_wait:g} s cap)"
            elif _retryable(exc):
                said += f" ({tries})"
            return self._failure(operation, status, said)
        return self._failure(operation, None, f"{type(exc).__name__}: {exc}")

    def _without_key(self, text: str) -> str:
        """``text`` with the API key taken out. Self-hosted servers often take any key, and
        people set a placeholder (``x``, ``none``): one that short is not a secret, and taking
        it out would garble every word holding those letters."""
        if len(self._api_key) < MIN_SECRET_KEY:
            return text
        return text.replace(self._api_key, "[REDACTED]")

    def _failure(self, operation: str, status: int | None, detail: str) -> LLMUnavailable:
        detail = _one_line(redact(self._without_key(detail)))
        log.warning("llm %s failed (%s): %s", operation, status, detail)
        return LLMUnavailable(SYSTEM, operation, status, detail)


def _tool_calls(message: ChatCompletionMessage) -> list[ToolCall]:
    calls = []
    for call in message.tool_calls or []:
        if call.type != "function":  # custom tools are never offered by opsbot
            continue
        raw = call.function.arguments or ""
        calls.append(ToolCall(call.id, call.function.name, _arguments(raw), raw))
    return calls


def _arguments(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        return True
    if refused_feature(exc) is not None:  # the same request would be refused again
        return False
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code == 429 or exc.status_code >= 500
    )


def _outcome_error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, ``Retry-After`` seconds or date)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after_s(headers.get("retry-after"))


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            code = f" [{error['code']}]" if error.get("code") else ""
            return f"{error['message']}{code}"
    return exc.message


def _validation_detail(exc: ValidationError, schema: type[BaseModel]) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return f"the answer is not valid JSON ({first['msg']})"
    where = ".".join(str(part) for part in first["loc"]) or "(root)"
    return (
        f"the answer does not fit {schema.__name__}: {exc.error_count()} error(s), "
        f"first at {where}: {first['msg']}"
    )


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"
