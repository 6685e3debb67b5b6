"""The LLM paths against a real OpenAI-compatible server: llama-cpp-python's server with
SmolLM2-135M-Instruct (tests/support/llama_server.py), started once per test run, behind a
proxy that keeps what opsbot sent and what came back (tests/support/recording_proxy.py).

These tests assert the protocol, not the prose: what was sent, the fallbacks taken, the caps
honoured, nothing uncited or unsafe reaching Slack, and the time to the first reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes.slack.api import SlackEmulator
from tests.support.llama_server import LlamaServer
from tests.support.recording_proxy import RecordingProxy
from tests.support.slack_llm_app import slack_llm_app

CHANNEL = "C0INCIDENT"
# Any key: the server checks none; long enough to be scrubbed from error text as a real one is.
API_KEY = "sk-local-opsbotLLAMA0123456789abcdef"
# A generous timeout for each call on a 2-core machine; the caps bound how long one can run.
CALL_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with LlamaServer(tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture
def proxy(llama_server: LlamaServer) -> Iterator[RecordingProxy]:
    with RecordingProxy(llama_server.url) as recording:
        yield recording


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, proxy: RecordingProxy
) -> AsyncIterator[httpx.AsyncClient]:
    """``opsbot serve``'s app with Slack on the emulator and the LLM on the real server."""
    async with slack_llm_app(
        make_app, slack, api_key=API_KEY, base_url=f"{proxy.address}/v1", timeout_s=CALL_TIMEOUT_S
    ) as c:
        yield c
