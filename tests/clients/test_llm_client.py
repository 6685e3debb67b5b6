"""opsbot's LLM adapter against the OpenAI fake, through the official ``openai`` client."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from bot.clients.llm import (
    BudgetExceeded,
    LLMClient,
    LLMUnavailable,
    TokenBudget,
)
from tests.fakes.openai.api import (
    OpenAIFake,
    Reply,
    hang,
    length_cut,
    rate_limited,
    reply_json,
    reply_malformed,
    reply_refusal,
    reply_text,
    reply_tool_calls,
    server_error,
)
from tests.fakes.openai.requests import api_error
from tests.support.llm import client_maker
from tests.support.server import free_port

KEY = "sk-proj-opsbotTEST0123456789abcdefXYZ"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "query_metric",
            "description": "A PromQL range query",
            "parameters": {"type": "object", "properties": {"promql": {"type": "string"}}},
        },
    }
]


class Summary(BaseModel):
    headline: str
    suspects: list[str]
    confidence: float | None = None


GOOD = {"headline": "p99 up after deploy", "suspects": ["fraud-scorer 1.4.2"], "confidence": 0.6}


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(api_key=KEY) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(fake: OpenAIFake, sleeps: list[float]) -> Iterator[Callable[..., LLMClient]]:
    with client_maker(fake, api_key=KEY, sleep=sleeps.append) as make_client:
        yield make_client


@pytest.fixture
def llm(make: Callable[..., LLMClient]) -> LLMClient:
    return make()


def summarise(llm: LLMClient, budget: TokenBudget | None = None, **options: Any) -> Summary:
    return llm.structured(
        system="You summarise incidents.",
        user="alert: p99 latency high",
        schema=Summary,
        budget=budget or TokenBudget(10_000),
        purpose="summary",
        **options,
    )


def test_structured_output_is_parsed_into_the_model(fake: OpenAIFake, llm: LLMClient) -> None:
    fake.script(reply_json(GOOD))
    assert summarise(llm, max_output_tokens=700) == Summary(**GOOD)
    (sent,) = fake.requests
    assert sent["model"] == "gpt-4o-mini"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["max_tokens"] == 700  # understood by every OpenAI-compatible server
    assert "max_completion_tokens" not in sent
    spec = sent["response_format"]["json_schema"]
    assert (sent["response_format"]["type"], spec["name"], spec["strict"]) == (
        "json_schema",
        "Summary",
        True,
    )
    assert spec["schema"]["required"] == ["headline", "suspects", "confidence"]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (reply_malformed('{"headline": "p99 up", '), "not valid JSON"),
        (reply_json({"headline": "p99 up"}), "does not fit Summary"),
        (reply_json({**GOOD, "suspects": "one"}), "first at suspects"),
        (reply_refusal("I can't help with that."), "the model refused"),
        (length_cut(), r"cut off \(length\)"),
        (reply_text(""), "no content"),
    ],
)
def test_an_unusable_answer_is_llm_unavailable(
    fake: OpenAIFake, llm: LLMClient, reply: Reply, reason: str
) -> None:
    fake.script(reply)
    budget = TokenBudget(10_000)
    with pytest.raises(LLMUnavailable, match=reason) as caught:
        summarise(llm, budget)
    assert (caught.value.system, caught.value.operation, caught.value.status) == (
        "llm",
        "structured:summary",
        200,
    )
    assert len(fake.requests) == 1
    assert 0 < budget.spent < 10_000  # the answer's usage was paid for, unusable or not


def test_a_429_is_retried_after_the_retry_after_it_asks_for(
    fake: OpenAIFake, llm: LLMClient, sleeps: list[float]
) -> None:
    fake.script(rate_limited(2), reply_json(GOOD))
    assert summarise(llm) == Summary(**GOOD)
    assert fake.statuses == [429, 200]
    assert sleeps == [pytest.approx(2.0)]


def test_a_429_storm_gives_up_after_max_retries(
    fake: OpenAIFake, make: Callable[..., LLMClient], sleeps: list[float]
) -> None:
    fake.always(rate_limited(1))
    with pytest.raises(LLMUnavailable, match=r"\(after 4 attempts\)") as caught:
        summarise(make(max_retries=3))
    assert caught.value.status == 429
    assert fake.statuses == [429] * 4
    assert sleeps == [1.0, 1.0, 1.0]


def test_a_retry_after_longer_than_the_cap_is_not_waited(
    fake: OpenAIFake, make: Callable[..., LLMClient], sleeps: list[float]
) -> None:
    fake.always(rate_limited(30))
    with pytest.raises(LLMUnavailable, match="more than the 10 s cap"):
        summarise(make(max_retry_wait_s=10))
    assert fake.statuses == [429]
    assert sleeps == []


def test_server_errors_are_retried_with_capped_backoff(
    fake: OpenAIFake, make: Callable[..., LLMClient], sleeps: list[float]
) -> None:
    fake.script(server_error(503), server_error(500), reply_json(GOOD))
    assert summarise(make(max_retry_wait_s=4)) == Summary(**GOOD)
    assert fake.statuses == [503, 500, 200]
    assert len(sleeps) == 2
    assert all(0 < wait <= 4 for wait in sleeps)


def test_a_hung_api_times_out_quickly(
    fake: OpenAIFake, make: Callable[..., LLMClient], sleeps: list[float]
) -> None:
    fake.always(hang(10))
    budget = TokenBudget(10_000)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"no answer within 0.5 s, after 2 attempts") as caught:
        summarise(make(timeout_s=0.5, max_retries=1), budget)
    assert time.monotonic() - started < 3
    assert caught.value.status is None
    assert len(fake.requests) == 2
    assert len(sleeps) == 1
    assert budget.spent > 0  # the model may have run: the reservation is charged


@pytest.mark.parametrize(
    ("status", "code"), [(401, "invalid_api_key"), (400, None), (403, None), (404, None)]
)
def test_other_4xx_are_not_retried(
    fake: OpenAIFake, llm: LLMClient, sleeps: list[float], status: int, code: str | None
) -> None:
    fake.always(Reply(status=status, error=api_error("nope", "invalid_request_error", None, code)))
    budget = TokenBudget(10_000)
    with pytest.raises(LLMUnavailable, match=f"HTTP {status}: nope") as caught:
        summarise(llm, budget)
    assert caught.value.status == status
    assert fake.statuses == [status]
    assert sleeps == []
    assert (budget.spent, budget.remaining) == (0, 10_000)  # a refused call costs nothing


def test_a_wrong_key_is_401_without_retries(
    fake: OpenAIFake, make: Callable[..., LLMClient]
) -> None:
    with pytest.raises(LLMUnavailable) as caught:
        summarise(make(api_key="sk-proj-wrongKEY0123456789"))
    assert caught.value.status == 401
    assert fake.statuses == [401]


def test_an_unreachable_api_is_llm_unavailable(
    make: Callable[..., LLMClient], sleeps: list[float]
) -> None:
    llm = make(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    with pytest.raises(LLMUnavailable, match="cannot connect") as caught:
        summarise(llm)
    assert caught.value.status is None
    assert len(sleeps) == 2


@pytest.mark.parametrize("answer", [None, "401", "timeout"])
def test_the_api_key_never_appears_in_the_error(
    fake: OpenAIFake, make: Callable[..., LLMClient], answer: str | None
) -> None:
    key = "sk-proj-SECRETKEY0123456789abcdefSECRET"
    if answer == "timeout":
        fake.always(hang(10))
        fake.api_key = key
    else:
        fake.always(Reply(status=400, error=api_error(f"bad key {key}", "invalid_request_error")))
        fake.api_key = KEY if answer == "401" else key
    with pytest.raises(LLMUnavailable) as caught:
        summarise(make(api_key=key, timeout_s=0.3, max_retries=0))
    err = caught.value
    text = "".join(traceback.format_exception(err)) + repr(err) + err.detail
    assert "SECRETKEY" not in text
    assert err.__cause__ is None
    assert err.__context__ is None  # the openai error holds the request and its headers


def test_a_call_that_would_exceed_the_budget_sends_nothing(
    fake: OpenAIFake, llm: LLMClient
) -> None:
    fake.always(reply_json(GOOD))
    budget = TokenBudget(1000)
    with pytest.raises(BudgetExceeded) as caught:
        summarise(llm, budget, max_output_tokens=1200)
    assert isinstance(caught.value, LLMUnavailable)
    assert fake.requests == []
    assert (budget.spent, budget.remaining) == (0, 1000)


def test_usage_replaces_the_reservation(fake: OpenAIFake, llm: LLMClient) -> None:
    fake.script(Reply(content='{"headline": "x", "suspects": []}', usage=(150, 30)))
    budget = TokenBudget(5000)
    summarise(llm, budget, max_output_tokens=2000)
    assert (budget.spent, budget.remaining) == (180, 4820)


def test_token_budget_holds_reservations_until_recorded() -> None:
    budget = TokenBudget(1000)
    budget.reserve(300, 400)
    assert budget.remaining == 300
    with pytest.raises(BudgetExceeded):
        budget.reserve(200, 200)
    budget.record(250)
    assert (budget.spent, budget.remaining) == (250, 750)
    budget.reserve(100, 100)
    budget.release()
    assert budget.remaining == 750


def test_tool_turn_returns_the_calls_with_their_arguments(fake: OpenAIFake, llm: LLMClient) -> None:
    fake.script(
        reply_tool_calls(
            [
                ("query_metric", {"promql": "up"}),
                ("query_metric", "{not json"),
                ("query_metric", "[1]"),
            ],
            content="Checking.",
        ),
        reply_text("p99 is back to normal."),
    )
    budget = TokenBudget(10_000)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "is p99 ok?"}]
    turn = llm.tool_turn(messages=messages, tools=TOOLS, budget=budget)
    assert turn.content == "Checking."
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("query_metric", {"promql": "up"}),
        ("query_metric", None),
        ("query_metric", None),
    ]
    assert turn.tool_calls[1].raw_arguments == "{not json"
    assert turn.total_tokens > 0
    assert budget.spent == turn.total_tokens
    assert fake.requests[0]["tool_choice"] == "auto"
    assert fake.requests[0]["tools"] == TOOLS

    # The assistant message goes back as the API expects it: the fake checks the tool chain.
    messages.append(turn.assistant_message)
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in turn.tool_calls]
    final = llm.tool_turn(messages=messages, tools=TOOLS, budget=budget)
    assert (final.content, final.tool_calls) == ("p99 is back to normal.", [])
    assert "tool_calls" not in final.assistant_message


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (reply_refusal("no"), "refused"),
        (length_cut("half"), "cut off"),
        (reply_text(""), "neither"),
    ],
)
def test_tool_turn_without_a_usable_answer_is_llm_unavailable(
    fake: OpenAIFake, llm: LLMClient, reply: Reply, reason: str
) -> None:
    fake.script(reply)
    with pytest.raises(LLMUnavailable, match=reason):
        llm.tool_turn(
            messages=[{"role": "user", "content": "hi"}], tools=TOOLS, budget=TokenBudget(5000)
        )
