"""The LLM adapter with servers that are not OpenAI: the output cap's field, structured output
stepped down within one call, tool calls refused, and what is remembered for the process.

Refusals are scripted in the shapes servers answer with; the fake checks every request as
OpenAI's API does (``tests/fakes/openai``), including its refusal of ``max_tokens`` for a
reasoning model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from bot.clients.llm import AnswerCutOff, LLMClient, LLMUnavailable, TokenBudget
from bot.clients.llm_support import (
    UNREAD_IN_A_ROW,
    ServerSupport,
    json_in_text,
    refused_feature,
)
from tests.fakes.openai.api import (
    OpenAIFake,
    Reply,
    hang,
    length_cut,
    reply_json,
    reply_text,
    reply_tool_calls,
    server_error,
)
from tests.fakes.openai.requests import api_error
from tests.support.llm import client_maker

KEY = "sk-proj-opsbotCOMPAT0123456789abcdef"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_timeline",
            "description": "The incident's timeline",
            "parameters": {"type": "object", "properties": {}},
        },
    }
]
MESSAGES = [
    {"role": "system", "content": "You answer from evidence."},
    {"role": "user", "content": "why is fraud-scorer slow?"},
]


class Verdict(BaseModel):
    cause: str
    confidence: float


GOOD = {"cause": "model 1.4.2", "confidence": 0.7}

# What llama-cpp-python 0.3.36's server answers a json_schema response_format with, as captured
# from the real one (its request model's validation error, and a line of its traceback), a 500.
LLAMA_CPP_SCHEMA_REFUSAL = Reply(
    status=500,
    error={
        "message": (
            "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
            "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
            "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"/srv/llama_cpp/server/"
            'app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
        ),
        "type": "internal_server_error",
        "param": None,
        "code": None,
    },
)
JSON_OBJECT_REFUSAL = Reply(
    status=400,
    error=api_error(
        "response_format of type 'json_object' is not supported by this model",
        "invalid_request_error",
        "response_format",
    ),
)
TOOLS_REFUSAL = Reply(
    status=400,
    error=api_error("tools are not supported by this server", "invalid_request_error", "tools"),
)


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(api_key=KEY) as server:
        yield server


@pytest.fixture
def make(fake: OpenAIFake) -> Iterator[Callable[..., LLMClient]]:
    with client_maker(fake, api_key=KEY, sleep=lambda _s: None) as make_client:
        yield make_client


def verdict(llm: LLMClient, budget: TokenBudget | None = None) -> Verdict:
    return llm.structured(
        system="You name the likely cause.",
        user="p99 latency high after a deploy",
        schema=Verdict,
        budget=budget or TokenBudget(10_000),
        max_output_tokens=300,
        purpose="verdict",
    )


def test_the_cap_goes_as_max_tokens_and_a_server_that_refuses_it_gets_the_other_field(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make(model="o3-mini")  # OpenAI's reasoning models refuse max_tokens
    fake.always(reply_json(GOOD))
    budget = TokenBudget(10_000)
    assert verdict(llm, budget) == Verdict(**GOOD)
    first, second = fake.requests
    assert (first.get("max_tokens"), "max_completion_tokens" in first) == (300, False)
    assert (second.get("max_completion_tokens"), "max_tokens" in second) == (300, False)
    assert fake.statuses == [400, 200]
    assert budget.remaining == budget.limit - budget.spent  # no hold left behind
    # remembered: the next call goes straight to the field that works
    verdict(llm)
    assert fake.requests[2].get("max_completion_tokens") == 300
    assert llm.support.as_json()["output_cap"] == "max_completion_tokens"


def test_json_schema_refused_steps_down_to_json_object_within_the_call(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make()
    fake.script(LLAMA_CPP_SCHEMA_REFUSAL, reply_json(GOOD), reply_json(GOOD))
    assert verdict(llm) == Verdict(**GOOD)
    refused, asked = fake.requests
    assert refused["response_format"]["type"] == "json_schema"
    assert fake.statuses == [500, 200]  # a refusal is not retried as a server error would be
    assert asked["response_format"] == {"type": "json_object"}
    system = asked["messages"][0]["content"]
    assert system.startswith("You name the likely cause.")
    schema = json.loads(system.split("JSON Schema exactly:\n", 1)[1])
    assert schema == Verdict.model_json_schema()
    # remembered for the life of the client: no second refusal
    verdict(llm)
    assert fake.requests[2]["response_format"] == {"type": "json_object"}
    assert llm.support.structured == "json_object"


def test_neither_json_form_then_plain_text_parsed_and_validated(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make()
    fenced = f"Here it is:\n```json\n{json.dumps(GOOD)}\n```\nHope this helps."
    fake.script(LLAMA_CPP_SCHEMA_REFUSAL, JSON_OBJECT_REFUSAL, reply_text(fenced))
    assert verdict(llm) == Verdict(**GOOD)
    assert [r.get("response_format", {}).get("type") for r in fake.requests] == [
        "json_schema",
        "json_object",
        None,
    ]
    assert "JSON Schema exactly" in fake.requests[2]["messages"][0]["content"]
    assert llm.support.structured == "text"


def test_plain_text_that_does_not_fit_the_schema_is_a_failure_with_the_reason(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make()
    llm.support.structured = "text"
    fake.script(reply_text('{"cause": "a deploy"}'))  # confidence missing
    with pytest.raises(LLMUnavailable) as caught:
        verdict(llm)
    assert "does not fit Verdict" in caught.value.detail
    assert "(asked as text)" in caught.value.detail
    assert len(fake.requests) == 1


def test_an_ordinary_server_error_is_still_retried_and_not_taken_for_a_refusal(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make(max_retries=2)
    fake.script(server_error(500), server_error(503), reply_json(GOOD))
    assert verdict(llm) == Verdict(**GOOD)
    assert [r["response_format"]["type"] for r in fake.requests] == ["json_schema"] * 3
    assert llm.support.structured == "json_schema"


def test_tools_refused_are_said_once_and_not_asked_again(
    fake: OpenAIFake, make: Callable[..., LLMClient], caplog: pytest.LogCaptureFixture
) -> None:
    llm = make()
    fake.script(TOOLS_REFUSAL)
    with pytest.raises(LLMUnavailable):
        llm.tool_turn(messages=MESSAGES, tools=TOOLS, budget=TokenBudget(10_000))
    assert llm.support.tools is False
    with pytest.raises(LLMUnavailable, match="tool calls are not supported"):
        llm.tool_turn(messages=MESSAGES, tools=TOOLS, budget=TokenBudget(10_000))
    assert len(fake.requests) == 1  # the second question sent nothing
    said = [r for r in caplog.records if "tool calls are not supported" in r.getMessage()]
    assert len(said) == 1
    assert llm.support.as_json()["tool_calls"] == "no"
    assert "refused" in llm.support.as_json()["tool_calls_detail"]


def test_tool_calls_that_work_are_remembered(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make()
    assert llm.support.as_json()["tool_calls"] == "not tried yet"
    fake.script(reply_tool_calls([("read_timeline", {})]))
    turn = llm.tool_turn(messages=MESSAGES, tools=TOOLS, budget=TokenBudget(10_000))
    assert [c.name for c in turn.tool_calls] == ["read_timeline"]
    llm.support.tools_work()
    assert llm.support.as_json()["tool_calls"] == "yes"


def test_text_cut_off_at_the_cap_before_any_tool_call_counts_as_an_answer_that_read_nothing(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    """A model behind a server that ignores ``tools`` may ramble until the cap stops it."""
    llm = make()
    fake.always(length_cut("I think the issue might be related to the model and the"))
    for _ in range(UNREAD_IN_A_ROW):
        with pytest.raises(AnswerCutOff, match=r"cut off \(length\)"):
            llm.tool_turn(messages=MESSAGES, tools=TOOLS, budget=TokenBudget(10_000))
    assert llm.support.tools is False
    assert "without calling a tool" in str(llm.support.tools_reason)
    assert len(fake.requests) == UNREAD_IN_A_ROW  # a cut-off answer is not asked again


def test_a_cut_off_turn_after_evidence_was_read_says_nothing_about_tool_support(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make()
    read = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "read_timeline", "arguments": "{}"},
        }]},
        {"role": "tool", "tool_call_id": "call_1", "content": "#1 alert fired"},
    ]  # fmt: skip
    fake.always(length_cut("The timeline shows that"))
    for _ in range(UNREAD_IN_A_ROW):
        with pytest.raises(AnswerCutOff):
            llm.tool_turn(messages=read, tools=TOOLS, budget=TokenBudget(10_000))
    assert llm.support.tools is None


def test_an_interactive_turn_that_times_out_is_not_tried_again(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    llm = make(timeout_s=0.5, max_retries=3)
    fake.always(hang(3))
    with pytest.raises(LLMUnavailable, match=r"no answer within 0\.5 s, on the first attempt"):
        llm.tool_turn(messages=MESSAGES, tools=TOOLS, budget=TokenBudget(10_000), interactive=True)
    assert len(fake.requests) == 1
    # the same timeout in background work is retried as before
    with pytest.raises(LLMUnavailable, match="after 4 attempts"):
        llm.tool_turn(messages=MESSAGES, tools=TOOLS, budget=TokenBudget(10_000))
    assert len(fake.requests) == 5


@pytest.mark.parametrize(
    ("content", "found"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('  {"a": 1}\n', '{"a": 1}'),
        ('Sure!\n```json\n{"a": 1}\n```', '{"a": 1}'),
        ('```\n{"a": 1}\n```', '{"a": 1}'),
        ('The answer is {"a": {"b": 2}} as asked.', '{"a": {"b": 2}}'),
        ("no json here", "no json here"),
    ],
)
def test_the_json_a_plain_text_answer_holds(content: str, found: str) -> None:
    assert json_in_text(content) == found


def _status_error(status: int, body: dict[str, Any]) -> openai.APIStatusError:
    import httpx

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, json=body, request=request)
    return openai.APIStatusError("refused", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "error", "feature"),
    [
        (500, LLAMA_CPP_SCHEMA_REFUSAL.error, "response_format"),
        (400, JSON_OBJECT_REFUSAL.error, "response_format"),
        (400, TOOLS_REFUSAL.error, "tools"),
        # vLLM started without --enable-auto-tool-choice, in the shape it answers with.
        (
            400,
            {
                "message": '"auto" tool choice requires --enable-auto-tool-choice and '
                "--tool-call-parser to be set",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            "tools",
        ),
        # Ollama with a model that has no tool template.
        (
            400,
            {
                "message": "registry.ollama.ai/library/gemma:2b does not support tools",
                "type": "api_error",
                "param": None,
                "code": None,
            },
            "tools",
        ),
        (
            400,
            api_error("Unsupported parameter: 'max_tokens'", "invalid_request_error", "max_tokens"),
            "max_tokens",
        ),
        (500, server_error(500).error, None),  # an outage, not a refusal
        (429, api_error("tools: rate limit", "requests", "tools"), None),  # not a refusal status
        (400, api_error("messages must not be empty", "invalid_request_error", "messages"), None),
    ],
)
def test_which_field_a_server_refused(
    status: int, error: dict[str, Any] | None, feature: str | None
) -> None:
    assert refused_feature(_status_error(status, {"error": error})) == feature


def test_support_only_ever_steps_down() -> None:
    support = ServerSupport()
    assert support.step_down("json_schema", "500") == "json_object"
    assert support.step_down("json_schema", "late answer of a call started before") == "json_object"
    assert support.structured == "json_object"
    assert support.step_down("json_object", "400") == "text"
    assert support.step_down("text", "nothing left") is None
    assert support.structured == "text"
    assert support.refused_cap("max_tokens") is True
    assert support.refused_cap("max_completion_tokens") is False  # both refused: give up


def test_answers_that_never_call_a_tool_mean_the_server_ignores_tools() -> None:
    support = ServerSupport()
    support.answered_unread()
    support.answered_unread()
    assert support.tools is None  # two could be the model's choice
    support.answered_unread()
    assert support.tools is False
    assert "3 questions in a row without calling a tool" in (support.tools_reason or "")

    works = ServerSupport()
    works.tools_work()
    for _ in range(5):
        works.answered_unread()
    assert works.tools is True  # a server that has made tool calls does support them


def test_a_placeholder_key_of_a_self_hosted_server_does_not_garble_the_reasons() -> None:
    with OpenAIFake(api_key="x") as fake:  # such servers take any key; people set "x"
        llm = LLMClient(api_key="x", base_url=fake.base_url, model="m", timeout_s=5.0)
        fake.script(Reply(status=400, error=api_error("context exceeded", "invalid_request_error")))
        try:
            with pytest.raises(LLMUnavailable) as caught:
                verdict(llm)
        finally:
            llm.close()
    assert caught.value.detail == "HTTP 400: context exceeded"
