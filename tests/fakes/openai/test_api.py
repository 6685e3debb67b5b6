"""The OpenAI fake checks what the API checks and answers in shapes the real client parses."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.fakes.openai.api import (
    OpenAIFake,
    hang,
    length_cut,
    rate_limited,
    reply_json,
    reply_refusal,
    reply_text,
    reply_tool_calls,
    server_error,
)

USER = [{"role": "user", "content": "hello"}]
TOOL = {
    "type": "function",
    "function": {"name": "get_metric", "parameters": {"type": "object", "properties": {}}},
}


class Verdict(BaseModel):
    summary: str
    confidence: float | None = None


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as server:
        yield server


@pytest.fixture
def client(fake: OpenAIFake) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0) as c:
        yield c


def create(client: openai.OpenAI, **params: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", **params)


def test_a_wrong_key_is_401_with_the_key_masked(fake: OpenAIFake) -> None:
    key = "sk-wrong-SECRETSECRET-1234"
    with (
        openai.OpenAI(api_key=key, base_url=fake.base_url, max_retries=0) as c,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        create(c, messages=USER)
    assert caught.value.code == "invalid_api_key"
    assert "SECRET" not in caught.value.message
    assert fake.statuses == [401]


def test_no_authorization_header_is_401(fake: OpenAIFake) -> None:
    request = urllib.request.Request(
        f"{fake.base_url}/chat/completions",
        data=json.dumps({"model": "m", "messages": USER}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    body = json.loads(caught.value.read())
    caught.value.close()
    assert caught.value.code == 401
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "didn't provide an API key" in body["error"]["message"]


def test_a_text_answer_parses_with_the_real_client(fake: OpenAIFake, client: openai.OpenAI) -> None:
    fake.script(reply_text("all quiet"))
    completion = create(client, messages=USER)
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content == "all quiet"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert fake.requests == [{"model": "gpt-4o-mini", "messages": USER}]


def test_tool_calls_come_back_in_the_wire_shape_and_their_answers_are_accepted(
    fake: OpenAIFake, client: openai.OpenAI
) -> None:
    fake.script(reply_tool_calls([("get_metric", {"name": "p99"})]), reply_text("done"))
    first = create(client, messages=USER, tools=[TOOL], tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"name": "p99"}
    messages = [
        *USER,
        choice.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}),
        {"role": "tool", "tool_call_id": call.id, "content": "0.8 s"},
    ]
    assert create(client, messages=messages, tools=[TOOL]).choices[0].message.content == "done"


def test_a_tool_message_that_answers_no_tool_call_is_400(client: openai.OpenAI) -> None:
    orphan = [*USER, {"role": "tool", "tool_call_id": "call_1", "content": "x"}]
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, messages=orphan)
    assert "must be a response to a preceeding message with 'tool_calls'" in caught.value.message
    assert caught.value.param == "messages.[1].role"


def test_tool_calls_left_unanswered_are_400(client: openai.OpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [*USER, {"role": "assistant", "content": None, "tool_calls": [call]}, *USER]
    with pytest.raises(openai.BadRequestError, match="did not have response messages: call_1"):
        create(client, messages=messages)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "boss", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": USER, "tool_choice": "auto"}, "tool_choice"),
        (
            {"messages": USER, "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "tools[0].function.name",
        ),
        ({"messages": USER, "max_completion_tokens": 0}, "max_completion_tokens"),
        ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type"),
        (
            {
                "messages": USER,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "v", "schema": "{}"},
                },
            },
            "response_format.json_schema.schema",
        ),
    ],
)
def test_malformed_requests_are_400(
    fake: OpenAIFake, client: openai.OpenAI, params: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        create(client, **params)
    assert caught.value.param == param
    assert fake.statuses == [400]


def test_a_strict_schema_with_an_open_object_is_400(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "v", "schema": schema, "strict": True}}
    with pytest.raises(openai.BadRequestError, match="additionalProperties"):
        create(client, messages=USER, response_format=fmt)


def test_the_real_clients_structured_output_is_accepted_and_parsed(
    fake: OpenAIFake, client: openai.OpenAI
) -> None:
    fake.script(reply_json({"summary": "disk full", "confidence": 0.7}))
    completion = client.chat.completions.parse(
        model="gpt-4o-mini", messages=USER, response_format=Verdict
    )
    assert completion.choices[0].message.parsed == Verdict(summary="disk full", confidence=0.7)
    assert fake.requests[0]["response_format"]["json_schema"]["strict"] is True


def test_scripted_json_is_returned_as_is_even_when_it_breaks_the_schema(
    fake: OpenAIFake, client: openai.OpenAI
) -> None:
    fake.script(reply_json({"not": "a verdict"}))
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "v", "schema": {"type": "object"}, "strict": False},
    }
    completion = create(client, messages=USER, response_format=fmt)
    assert json.loads(completion.choices[0].message.content) == {"not": "a verdict"}


def test_refusal_and_length_answers(fake: OpenAIFake, client: openai.OpenAI) -> None:
    fake.script(reply_refusal("I can't help with that."), length_cut(), reply_text("x" * 400))
    refused = create(client, messages=USER).choices[0].message
    assert (refused.content, refused.refusal) == (None, "I can't help with that.")
    assert create(client, messages=USER).choices[0].finish_reason == "length"
    capped = create(client, messages=USER, max_completion_tokens=10).choices[0]
    assert (capped.finish_reason, capped.message.content) == ("length", "x" * 40)


def test_rate_limits_carry_retry_after_and_the_real_code(
    fake: OpenAIFake, client: openai.OpenAI
) -> None:
    fake.script(rate_limited(2))
    with pytest.raises(openai.RateLimitError) as caught:
        create(client, messages=USER)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "2"


def test_server_errors_and_an_empty_script_fail_loudly(
    fake: OpenAIFake, client: openai.OpenAI
) -> None:
    fake.script(server_error(503))
    with pytest.raises(openai.InternalServerError) as caught:
        create(client, messages=USER)
    assert caught.value.status_code == 503
    with pytest.raises(openai.InternalServerError, match="no scripted reply"):
        create(client, messages=USER)


def test_responders_see_the_request_and_always_repeats(
    fake: OpenAIFake, client: openai.OpenAI
) -> None:
    fake.always(lambda body: reply_text(f"{len(body['messages'])} messages"))
    assert create(client, messages=USER).choices[0].message.content == "1 messages"
    assert create(client, messages=USER * 2).choices[0].message.content == "2 messages"


def test_a_hanging_answer_times_the_client_out(fake: OpenAIFake) -> None:
    fake.script(hang(5))
    with (
        openai.OpenAI(
            api_key=fake.api_key, base_url=fake.base_url, max_retries=0, timeout=0.3
        ) as c,
        pytest.raises(openai.APITimeoutError),
    ):
        create(c, messages=USER)
