"""The root's "Silence alerts…" select in Slack, through Bolt and the real Alertmanager: a choice
is acknowledged at once, silences the incident's group as the person who chose, answers them
privately, and the root and the thread show the silence until ``/ops unsilence`` expires it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from bot.render.silences import SILENCE_ACTION, silence_select
from bot.store.models import Incident, TimelineEvent
from tests.fakes.slack.api import SlackEmulator
from tests.support.alertmanager import SilencingStack
from tests.support.asgi import AM_TOKEN, asgi_client
from tests.support.payloads import am_alert, am_payload
from tests.support.slack_requests import (
    CHANNEL,
    post,
    select_click,
    slash_command,
)

pytestmark = pytest.mark.integration

ALERT, SERVICE = "SelectSilence", "fraud-scorer"
CATALOG = """
policy:
  rules:
    - actions: [silence_alerts, expire_silence]
      run: [U0ALICE, U0ONCALL]
      approval: none
"""
ACK_BUDGET_S = 3.0  # Slack's limit for the acknowledgement


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SilencingStack]:
    with SilencingStack(tmp_path_factory.mktemp("alertmanager")) as running:
        yield running


@pytest.fixture
async def client(
    slack_app: Callable[..., FastAPI], stack: SilencingStack
) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(
        slack_app(
            CATALOG,
            alertmanager_url=stack.url,
        )
    ) as c:
        yield c


def choice(option: dict[str, Any] | str, user: str, response_url: str) -> bytes:
    """Slack's body for ``user`` picking ``option`` (as the select offers it, or a bare value)
    in the root's select."""
    return select_click(
        SILENCE_ACTION, "opsbot_incident", option, user, CHANNEL, "1.000001", "1.2.3", response_url
    )


async def answer(slack: SlackEmulator, name: str) -> dict[str, Any]:
    await slack.await_for(lambda: len(slack.responses(name)) == 1, timeout=20)
    [reply] = slack.responses(name)
    return reply


def root_text(slack: SlackEmulator) -> str:
    [root] = slack.roots(CHANNEL)
    return json.dumps(root["blocks"], ensure_ascii=False)


def thread_text(slack: SlackEmulator) -> str:
    [root] = slack.roots(CHANNEL)
    return " ".join(r["text"] for r in slack.replies(CHANNEL, root["ts"]))


async def test_a_choice_in_the_select_silences_until_unsilenced(
    client: httpx.AsyncClient, slack: SlackEmulator, stack: SilencingStack
) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    payload = am_payload(SERVICE, [am_alert(SERVICE, 1, alertname=ALERT)], alertname=ALERT)
    opened = await client.post(
        "/webhooks/alertmanager", json=payload, headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert opened.status_code == 200, opened.text
    await rt.sender.drain()
    with Session(rt.engine) as session:
        [incident] = session.exec(select(Incident)).all()
    n = incident.id
    options = silence_select(incident)["options"]
    assert [o["value"] for o in options] == [f"{n}:1h", f"{n}:4h", f"{n}:monday", f"{n}:custom"]

    started = time.perf_counter()
    await post(client, choice(options[1], "U0ALICE", slack.response_url("pick")))
    acked_s = time.perf_counter() - started
    assert acked_s < ACK_BUDGET_S
    reply = await answer(slack, "pick")
    answered_s = time.perf_counter() - started
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(
        f'Done: Silenced alerts matching alertname="{ALERT}", service="{SERVICE}" until'
    )
    [made] = stack.silences(service=SERVICE)
    assert {(m["name"], m["value"]) for m in made["matchers"]} == {
        ("alertname", ALERT),
        ("service", SERVICE),
    }
    [root] = slack.roots(CHANNEL)
    link = f"https://slack.com/archives/{CHANNEL}/p{root['ts'].replace('.', '')}"
    assert made["comment"].startswith(
        f"Silenced from opsbot by <@U0ALICE> for incident #{n} {link} [opsbot "
    )

    await rt.sender.drain()
    assert ":no_bell: *Silenced* until" in root_text(slack)
    assert "by <@U0ALICE> (expire: `/ops unsilence 1`)" in root_text(slack)
    assert ":no_bell: <@U0ALICE> silenced alerts matching" in thread_text(slack)

    # Custom…: the command to type, privately; nothing is made.
    await post(client, choice(options[3], "U0ALICE", slack.response_url("custom")))
    hint = await answer(slack, "custom")
    assert hint["response_type"] == "ephemeral"
    assert "/ops silence until " in hint["text"]
    assert f"#{n}`" in hint["text"]
    # Someone the policy does not name, and a value that is not opsbot's: nothing is made.
    await post(client, choice(options[0], "U0MALLORY", slack.response_url("mallory")))
    refused = await answer(slack, "mallory")
    assert refused["response_type"] == "ephemeral"
    assert "U0MALLORY may not run silence_alerts" in refused["text"]
    await post(client, choice(f"{n}:forever", "U0ALICE", slack.response_url("forged")))
    assert "not one of opsbot's" in (await answer(slack, "forged"))["text"]
    assert len(stack.silences(service=SERVICE)) == 1

    # /ops unsilence in Slack (the on-call U0ONCALL types it): expired there and here.
    await post(client, slash_command(f"unsilence #{n}", slack.response_url("unsilence")))
    done = await answer(slack, "unsilence")
    assert done["text"].startswith("Done: Expired silence 1 (")
    assert stack.silences(service=SERVICE)[0]["status"]["state"] == "expired"
    await rt.sender.drain()
    assert "Silenced" not in root_text(slack)
    assert ":bell: <@U0ONCALL> expired silence 1" in thread_text(slack)
    with Session(rt.engine) as session:
        kinds = session.exec(
            select(TimelineEvent.kind)
            .where(TimelineEvent.incident_id == n)
            .order_by(col(TimelineEvent.id))
        ).all()
    assert kinds.index("silence_created") < kinds.index("silence_expired")
    print(f"select → ack {acked_s * 1000:.0f} ms, → answer {answered_s * 1000:.0f} ms")
