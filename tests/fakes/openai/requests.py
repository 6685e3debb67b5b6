"""What OpenAI's Chat Completions API refuses with 400 before a model runs, for ``OpenAIFake``.

``validate(body)`` raises ``Invalid`` (its ``error`` is the API's ``{"message", "type", "param",
"code"}``) for: no ``model``; ``messages`` missing, empty, of unknown roles or without content;
a ``tool`` message that answers no ``tool_call_id`` of the assistant message before it, or an
assistant ``tool_calls`` left unanswered; malformed ``tools``; ``tool_choice`` without tools or
naming an unknown tool; a ``response_format`` of an unknown type, a ``json_schema`` without a
name or an object schema, a strict schema with an open object or an optional property, or
``json_object`` without the word "json" in the messages; ``max_completion_tokens`` below 1;
``max_tokens`` for a reasoning model (``o1``, ``o3-mini``…: "Unsupported parameter").
The messages are the API's own where they are known (its "preceeding" typo included).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["Invalid", "api_error", "validate"]

Json = dict[str, Any]
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# OpenAI's reasoning models take only ``max_completion_tokens`` as the output cap.
REASONING_MODEL = re.compile(r"^o\d")
TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


def api_error(message: str, kind: str, param: str | None = None, code: str | None = None) -> Json:
    """The ``error`` object of an API error answer."""
    return {"message": message, "type": kind, "param": param, "code": code}


class Invalid(Exception):
    """A request the API refuses with 400."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.error = api_error(message, "invalid_request_error", param, code)


def validate(body: Json) -> None:
    if "model" not in body:
        raise Invalid("you must provide a model parameter")
    _expect(body["model"], str, "model")
    if "messages" not in body:
        raise _missing("messages")
    _expect(body["messages"], list, "messages")
    _not_empty(body["messages"], "messages")
    _validate_messages(body["messages"])
    tool_names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), tool_names)
    _validate_response_format(body.get("response_format"), body["messages"])
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            _expect(body[key], int, key)
            if body[key] < 1:
                raise Invalid(
                    f"Invalid '{key}': integer below minimum value. Expected a value >= 1, "
                    f"but got {body[key]} instead.",
                    key,
                    "integer_below_min_value",
                )
    if body.get("max_tokens") is not None and REASONING_MODEL.match(str(body["model"])):
        raise Invalid(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    if body.get("stream"):
        raise Invalid("'stream': the fake does not stream", "stream")


def _validate_messages(messages: list[Any]) -> None:
    pending: set[str] | None = None  # tool_call_ids of the last assistant message, unanswered
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        _expect(message, dict, where)
        role = message.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        _one_of(role, ROLES, f"{where}.role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id is None:
                raise _missing(f"{where}.tool_call_id")
            _expect(call_id, str, f"{where}.tool_call_id")
            if pending is None:
                raise Invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            if call_id not in pending:
                raise Invalid(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in "
                    "'tool_calls' of previous message.",
                    f"messages.[{i}].tool_call_id",
                )
            pending.discard(call_id)
        elif pending:
            raise _unanswered(pending, i)
        else:
            pending = None
        if role == "assistant" and message.get("tool_calls") is not None:
            pending = _validate_tool_calls(message["tool_calls"], where)
        elif message.get("content") is None:
            if role != "assistant":
                raise _missing(f"{where}.content")
            raise Invalid(
                "Invalid value for 'content': expected a string, got null.",
                f"messages.[{i}].content",
            )
    if pending:
        raise _unanswered(pending, len(messages))


def _unanswered(pending: set[str], i: int) -> Invalid:
    return Invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(sorted(pending)),
        f"messages.[{i}].role",
    )


def _validate_tool_calls(calls: Any, where: str) -> set[str]:
    _expect(calls, list, f"{where}.tool_calls")
    _not_empty(calls, f"{where}.tool_calls")
    ids = set()
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        _expect(call, dict, at)
        _expect(call.get("id"), str, f"{at}.id")
        _one_of(call.get("type"), ("function",), f"{at}.type")  # the fake: function tools only
        _expect(call.get("function"), dict, f"{at}.function")
        _expect(call["function"].get("name"), str, f"{at}.function.name")
        _expect(call["function"].get("arguments"), str, f"{at}.function.arguments")
        ids.add(call["id"])
    return ids


def _validate_tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    _expect(tools, list, "tools")
    _not_empty(tools, "tools")
    names = set()
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        _expect(tool, dict, at)
        _one_of(tool.get("type"), ("function",), f"{at}.type")
        _expect(tool.get("function"), dict, f"{at}.function")
        name = tool["function"].get("name")
        _expect(name, str, f"{at}.function.name")
        _name(name, f"{at}.function.name")
        if "parameters" in tool["function"]:
            _expect(tool["function"]["parameters"], dict, f"{at}.function.parameters")
        names.add(name)
    return names


def _validate_tool_choice(choice: Any, tool_names: set[str]) -> None:
    if choice is None:
        return
    if not tool_names:
        raise Invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        )
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in tool_names:
            raise Invalid(
                f"Invalid value for 'tool_choice': no tool named '{name}'.", "tool_choice"
            )
        return
    _one_of(choice, ("none", "auto", "required"), "tool_choice")


def _validate_response_format(fmt: Any, messages: list[Json]) -> None:
    if fmt is None:
        return
    _expect(fmt, dict, "response_format")
    kind = fmt.get("type")
    _one_of(kind, ("text", "json_object", "json_schema"), "response_format.type")
    if kind == "json_object" and "json" not in json.dumps(messages).lower():
        raise Invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of "
            "type 'json_object'.",
            "messages",
        )
    if kind != "json_schema":
        return
    spec = fmt.get("json_schema")
    _expect(spec, dict, "response_format.json_schema")
    if "name" not in spec:
        raise _missing("response_format.json_schema.name")
    name = spec["name"]
    _expect(name, str, "response_format.json_schema.name")
    _name(name, "response_format.json_schema.name")
    schema = spec.get("schema")
    _expect(schema, dict, "response_format.json_schema.schema")
    if spec.get("strict"):
        if schema.get("type") != "object":
            raise Invalid(
                f"Invalid schema for response_format '{name}': schema must be a JSON Schema of "
                f"'type: \"object\"', got 'type: \"{schema.get('type')}\"'.",
                "response_format",
            )
        _check_strict(schema, (), name)


def _check_strict(node: Any, context: tuple[str, ...], name: str) -> None:
    """Strict structured outputs: every object closed and every property required."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_strict(item, (*context, str(i)), name)
        return
    if not isinstance(node, dict):
        return
    problem = f"Invalid schema for response_format '{name}': In context={context}, "
    if node.get("type") == "object" or "properties" in node:
        if node.get("additionalProperties") is not False:
            problem += "'additionalProperties' is required to be supplied and to be false."
            raise Invalid(problem, "response_format")
        required = node.get("required", [])
        missing = [key for key in node.get("properties", {}) if key not in required]
        if missing:
            problem += (
                "'required' is required to be supplied and to be an array including every key "
                f"in properties. Missing '{missing[0]}'."
            )
            raise Invalid(problem, "response_format")
    for key in ("properties", "$defs", "definitions"):
        for sub, schema in (node.get(key) or {}).items():
            _check_strict(schema, (*context, key, sub), name)
    for key in ("items", "anyOf", "allOf"):
        if key in node:
            _check_strict(node[key], (*context, key), name)


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        got = "null" if value is None else TYPE_NAMES.get(type(value), type(value).__name__)
        raise Invalid(
            f"Invalid type for '{where}': expected {TYPE_NAMES[kind]}, but got {got} instead.",
            where,
            "invalid_type",
        )


def _one_of(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        quoted = [f"'{a}'" for a in allowed]
        listed = (
            ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
            if len(quoted) > 2
            else (" and ".join(quoted))
        )
        raise Invalid(
            f"Invalid value: '{value}'. Supported values are: {listed}.", where, "invalid_value"
        )


def _not_empty(items: list[Any], where: str) -> None:
    if not items:
        raise Invalid(
            f"Invalid '{where}': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            where,
            "empty_array",
        )


def _name(name: str, where: str) -> None:
    if not NAME.match(name):
        raise Invalid(
            f"Invalid '{where}': string does not match pattern. Expected a string that matches "
            "the pattern '^[a-zA-Z0-9_-]+$'.",
            where,
            "invalid_value",
        )


def _missing(where: str) -> Invalid:
    return Invalid(f"Missing required parameter: '{where}'.", where, "missing_required_parameter")
