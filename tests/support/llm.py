"""opsbot's LLM client pointed at the local OpenAI fake, as the tests use it (no real sleeps)."""

from __future__ import annotations

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
