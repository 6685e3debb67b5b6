"""post_message: a line in the incident thread through ``ctx.say``, no approval needed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionRefused, Target
from actions.post_message import PostMessage
from actions.registry import REGISTRY

ACTION = PostMessage()


class Thread:
    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)


def context(thread: Thread | None) -> ActionContext:
    return ActionContext(actor="playbook:7", key="run-7", say=thread.say if thread else None)


def test_is_registered_read_only_and_targets_the_thread() -> None:
    assert isinstance(REGISTRY["post_message"], PostMessage)
    assert PostMessage.writes is False
    params = ACTION.parse({"text": "hi"})
    assert ACTION.target(context(Thread()), params) == Target(None, "slack/thread")


def test_plan_quotes_the_text_and_posts_nothing() -> None:
    thread = Thread()
    plan = ACTION.plan(context(thread), ACTION.parse({"text": "Rolling back *fraud-scorer*"}))
    assert plan.summary == "Post in the incident thread: Rolling back *fraud-scorer*"
    assert plan.lines == ["Rolling back *fraud-scorer*"]
    assert plan.noop is False
    assert thread.said == []


def test_apply_posts_the_text_once() -> None:
    thread = Thread()
    ctx = context(thread)
    params = ACTION.parse({"text": "Error rate is back under 5%."})
    result = ACTION.apply(ctx, params, ACTION.plan(ctx, params))
    assert result.ok
    assert result.summary == "Posted in the incident thread"
    assert thread.said == ["Error rate is back under 5%."]


def test_a_long_text_is_shortened_in_the_summary_only() -> None:
    text = "x" * 3000
    plan = ACTION.plan(context(Thread()), ACTION.parse({"text": text}))
    assert len(plan.summary) < 250
    assert plan.lines == [text]


@pytest.mark.parametrize("raw", [{"text": ""}, {"text": " \n"}, {"text": "x" * 3001}, {}])
def test_refuses_empty_blank_and_overlong_text(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTION.parse(raw)


def test_refuses_without_a_thread_to_post_to() -> None:
    params = ACTION.parse({"text": "hi"})
    with pytest.raises(ActionRefused, match=r"^no incident thread to post to$"):
        ACTION.plan(context(None), params)
    with pytest.raises(ActionRefused, match=r"^no incident thread to post to$"):
        ACTION.apply(context(None), params, ACTION.plan(context(Thread()), params))
