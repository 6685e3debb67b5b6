"""The Slack side of the chat tests: the Slack emulator, and the bot's app talking to it with a
catalog of the test's own (``slack_app(CATALOG, **settings)``), closed after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.fakes.slack.api import SlackEmulator
from tests.support.slack_requests import SIGNING_SECRET

CHANNELS = ("C0INCIDENT", "C0FRAUD")


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=CHANNELS) as emulator:
        yield emulator


@pytest.fixture
def slack_app(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, tmp_path: Path
) -> Iterator[Callable[..., FastAPI]]:
    """``slack_app(catalog, **settings)``: the app in HTTP mode on the Slack emulator, with
    ``catalog`` as its services file; what it holds open is closed after the test."""
    made: list[FastAPI] = []

    def make(catalog: str, **settings: Any) -> FastAPI:
        (tmp_path / "services.yaml").write_text(catalog)
        app = make_app(
            slack_bot_token="xoxb-test-token",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url,
            services_file=tmp_path / "services.yaml",
            **settings,
        )
        made.append(app)
        return app

    yield make
    for app in made:
        for close in app.state.runtime.closers:
            close()
