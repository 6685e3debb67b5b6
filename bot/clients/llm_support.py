"""What one OpenAI-compatible server supports, learned from its answers for the life of the process.

Servers teams host themselves (vLLM, Ollama, llama.cpp's server, llama-cpp-python) speak Chat
Completions with differences that break a client written for OpenAI alone:

- **the output cap**: ``max_tokens`` is understood everywhere; ``max_completion_tokens`` is
  ignored by servers that predate it (the model then runs to the end of its context), and
  OpenAI's reasoning models refuse ``max_tokens``. opsbot sends ``max_tokens`` and switches to
  ``max_completion_tokens`` only when a server refuses the first;
- **structured output**: ``response_format`` ``json_schema`` (OpenAI, vLLM, Ollama), only
  ``json_object`` (llama-cpp-python answers ``json_schema`` with a 500), or neither. opsbot walks
  down ``json_schema`` → ``json_object`` with the schema in the prompt → plain text parsed as JSON,
  within the same call, and starts the next call where the last one ended;
- **tool calls**: refused outright, or ignored (the model answers in text and reads nothing).
  Either way triage cannot rest its answer on evidence, so it is said once in the log and in
  ``/readyz`` (``llm``), and questions get the deterministic answer.

``refused_feature`` reads an error answer: which request field the server would not take.
A refusal is not retried (the same request would be refused again) and costs no tokens.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import openai

log = logging.getLogger(__name__)

Structured = Literal["json_schema", "json_object", "text"]
STRUCTURED_LADDER: tuple[Structured, ...] = ("json_schema", "json_object", "text")
Feature = Literal["max_tokens", "response_format", "tools"]
UNREAD_IN_A_ROW = 3

# Status codes a server answers a request field it does not understand with: 400 and 422
# (validation), 500 (llama-cpp-python's pydantic error on ``response_format.type``), 501.
_REFUSAL_STATUSES = frozenset({400, 422, 500, 501})
_FIELD_WORDS: dict[Feature, tuple[str, ...]] = {
    "response_format": ("response_format", "json_schema", "structured output"),
    "tools": ("tool_choice", "tool choice", "tools", "tool call", "function call", "function_call"),
    "max_tokens": ("max_tokens",),
}


def refused_feature(exc: BaseException) -> Feature | None:
    """The request field ``exc`` (an error answer) says the server refused, or None."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in _REFUSAL_STATUSES:
        return None
    said = _error_text(exc).lower()
    param = _error_param(exc)
    for feature, words in _FIELD_WORDS.items():
        if param is not None and any(param.startswith(w) for w in words):
            return feature
    # Without a ``param``, only a message that names the field and says it is not accepted.
    # "requires --": vLLM started without a flag the field needs ("auto" tool choice requires
    # --enable-auto-tool-choice ...); "does not support": Ollama on a model without tools.
    if not any(w in said for w in ("unsupported", "not supported", "invalid", "unknown",
                                   "not allowed", "validation", "extra", "unrecognized",
                                   "input should be", "not permitted", "requires --",
                                   "does not support")):  # fmt: skip
        return None
    for feature, words in _FIELD_WORDS.items():
        if any(w in said for w in words):
            return feature
    return None


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return " ".join(str(v) for v in error.values() if v is not None)
        return str(error)
    return f"{exc.message} {exc.response.text[:2000] if exc.response is not None else ''}"


def _error_param(exc: openai.APIStatusError) -> str | None:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("param"), str):
            return str(error["param"])
    return None


@dataclass
class ServerSupport:
    """What the server has shown it takes; starts optimistic, only ever steps down."""

    cap_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    structured: Structured = "json_schema"
    tools: bool | None = None  # None: not tried yet
    tools_reason: str | None = None
    _unread: int = 0  # answers in a row given without a tool call
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cap(self, tokens: int) -> dict[str, int]:
        """The output cap in the field this server honours."""
        return {self.cap_field: tokens}

    def refused_cap(self, field_sent: str) -> bool:
        """The server refused ``field_sent``; True when there is another field to try."""
        with self._lock:
            if field_sent != self.cap_field:
                return True  # another call already switched
            if self.cap_field == "max_tokens":
                self.cap_field = "max_completion_tokens"
                log.warning("llm: the server refuses max_tokens; max_completion_tokens from now on")
                return True
            return False

    def step_down(self, refused: Structured, why: str) -> Structured | None:
        """``refused`` did not work on this server; the next way to ask, or None."""
        with self._lock:
            at = STRUCTURED_LADDER.index(refused)
            if at + 1 >= len(STRUCTURED_LADDER):
                return None
            following = STRUCTURED_LADDER[at + 1]
            if STRUCTURED_LADDER.index(self.structured) <= at:
                self.structured = following
                log.warning(
                    "llm: structured output as %s refused (%s); %s from now on",
                    refused,
                    why,
                    following,
                )
            return following

    def no_tools(self, why: str) -> None:
        """Tool calls do not work on this server: said once, remembered."""
        with self._lock:
            if self.tools is False:
                return
            self.tools = False
            self.tools_reason = why
        log.warning("llm: tool calls are not supported (%s); triage answers without the LLM", why)

    def tools_work(self) -> None:
        with self._lock:
            self._unread = 0
            if self.tools is None:
                self.tools = True

    def answered_unread(self) -> None:
        """The model answered a question without calling any tool. A server that ignores
        ``tools`` (it passes them to no template) looks exactly like this; after
        ``UNREAD_IN_A_ROW`` such answers in a row, and none with a tool call ever, it is taken
        as not supporting them."""
        with self._lock:
            self._unread += 1
            unread, ever = self._unread, self.tools is True
        if unread >= UNREAD_IN_A_ROW and not ever:
            self.no_tools(
                f"the model answered {unread} questions in a row without calling a tool: the "
                "server seems to ignore tools"
            )

    def as_json(self) -> dict[str, Any]:
        """For ``/readyz``: what is known about the server so far."""
        tools = {None: "not tried yet", True: "yes", False: "no"}[self.tools]
        out: dict[str, Any] = {
            "output_cap": self.cap_field,
            "structured_output": self.structured,
            "tool_calls": tools,
        }
        if self.tools is False and self.tools_reason:
            out["tool_calls_detail"] = self.tools_reason
        return out


def schema_instruction(schema: dict[str, Any]) -> str:
    """What the prompt says when the server cannot be given the schema itself."""
    return (
        "Answer with one JSON object and nothing else (no prose, no code fence) that matches "
        f"this JSON Schema exactly:\n{json.dumps(schema, separators=(',', ':'))}"
    )


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n\s*```", re.DOTALL)


def json_in_text(content: str) -> str:
    """The JSON object a plain-text answer holds: the whole text, a fenced block in it, or the
    text from its first ``{`` to its last ``}``; the text itself when none is found (the
    schema's validation then says why it is not one)."""
    stripped = content.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        return stripped
    if (fenced := _FENCE.search(content)) is not None:
        return fenced.group(1).strip()
    start, end = content.find("{"), content.rfind("}")
    if 0 <= start < end:
        return content[start : end + 1]
    return stripped
