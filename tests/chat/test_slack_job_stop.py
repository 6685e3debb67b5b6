"""A Ray job from Slack, through Bolt and a real local Ray head: `/ops train` starts it, its one
message in the channel carries a Stop button, and a click by an allowed person stops it (through
policy and audit, like `/ops stop`); a stranger's click stops nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.render.jobs import JOB_STOP_ACTION
from ray_jobs.sample_data import generate, write
from tests.fakes.slack.api import SlackEmulator
from tests.support.asgi import asgi_client
from tests.support.ray_head import RayHead
from tests.support.slack_requests import SIGNING_SECRET, click, post, slash_command

CHANNEL = "C0INCIDENT"
CATALOG = """
jobs:
  train:
    fraud-scorer:
      entrypoint: train
      params:
        dataset: {{type: path, default: {data}/fraud.parquet, under: [{data}/]}}
        epochs: {{type: int, default: 2, min: 1, max: 5000}}
      resources: {{cpus: 1, memory_gb: 0.5}}
      artifacts: {artifacts}
policy:
  rules:
    - actions: [submit_ray_job, stop_ray_job]
      run: [U0ONCALL, U0ALICE]
      approval: none
"""


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, ray_head: RayHead, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    write(generate(2000, seed=3), tmp_path / "fraud.parquet")
    (tmp_path / "services.yaml").write_text(
        CATALOG.format(data=tmp_path, artifacts=tmp_path / "artifacts")
    )
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        services_file=tmp_path / "services.yaml",
        ray_address=ray_head.address,
    )
    # With the lifespan: the outbox sender and the job tracker run, as in `opsbot serve`.
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        yield c


def stop_button(message: dict[str, Any]) -> dict[str, Any] | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == JOB_STOP_ACTION:
                return dict(element)
    return None


async def test_the_stop_button_stops_the_job_for_an_allowed_person_only(
    client: httpx.AsyncClient, slack: SlackEmulator
) -> None:
    await post(client, slash_command("train fraud-scorer epochs=5000", slack.response_url("t")))
    await slack.await_for(lambda: len(slack.responses("t")) == 1, timeout=30)
    [started] = slack.responses("t")
    assert started["response_type"] == "in_channel"
    assert "Submitted train job #1" in started["text"]

    def job_message() -> dict[str, Any] | None:
        found = [m for m in slack.roots(CHANNEL) if stop_button(m) or "fraud-scorer" in m["text"]]
        return found[0] if found else None

    # The tracker edits the message as progress comes in; the Stop button is on it.
    await slack.await_for(
        lambda: (m := job_message()) is not None and "epoch" in json.dumps(m["blocks"]),
        timeout=120,
    )
    message = job_message()
    assert message is not None
    button = stop_button(message)
    assert button is not None
    assert button["value"] == "1"

    await post(client, click(JOB_STOP_ACTION, "1", "U0MALLORY", slack.response_url("m")))
    await slack.await_for(lambda: len(slack.responses("m")) == 1, timeout=20)
    [refused] = slack.responses("m")
    assert refused["response_type"] == "ephemeral"
    assert "U0MALLORY may not run stop_ray_job" in refused["text"]

    await post(client, click(JOB_STOP_ACTION, "1", "U0ALICE", slack.response_url("a")))
    await slack.await_for(lambda: len(slack.responses("a")) == 1, timeout=20)
    [stopping] = slack.responses("a")
    assert "Stop requested for job #1" in stopping["text"]

    def ended() -> bool:
        m = job_message()
        return m is not None and stop_button(m) is None and "U0ALICE" in m["text"]

    await slack.await_for(ended, timeout=60)
    message = job_message()
    assert message is not None
    assert "stopped by <@U0ALICE>" in message["text"]
    ts = message["ts"]
    await slack.await_for(lambda: len(slack.replies(CHANNEL, ts)) == 1, timeout=20)
    [done] = slack.replies(CHANNEL, ts)
    assert "stopped" in done["text"].lower()
