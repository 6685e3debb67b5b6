"""opsbot's LLM client pointed at the local OpenAI fake, as the tests use it (no real sleeps)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from bot.clients.llm import LLMClient
from tests.fakes.openai.api import OpenAIFake


def client_for(
    fake: OpenAIFake,
    *,
    model: str = "gpt-4o-mini",
    timeout_s: float = 5.0,
    max_retries: int = 2,
) -> LLMClient:
    return LLMClient(
        api_key=fake.api_key,
        base_url=fake.base_url,
        model=model,
        timeout_s=timeout_s,
        max_retries=max_retries,
        sleep=lambda _s: None,
    )


@contextlib.contextmanager
def client_maker(
    fake: OpenAIFake, *, api_key: str, sleep: Callable[[float], None]
) -> Iterator[Callable[..., LLMClient]]:
    """``make(**overrides)``: an LLM client on ``fake`` (gpt-4o-mini, 5 s timeout, ``sleep``
    between retries); every client made is closed at the end."""
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": fake.base_url,
            "model": "gpt-4o-mini",
            "timeout_s": 5.0,
            "sleep": sleep,
            **overrides,
        }
        made.append(LLMClient(**options))
        return made[-1]

    try:
        yield make
    finally:
        for client in made:
            client.close()
