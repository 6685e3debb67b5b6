"""The root's "Page" button in Slack, through Bolt and the ASGI app: a click runs `/ops page` for
the incident as the person who clicked (policy decides), answered privately; the first click opens
and links a PagerDuty incident, the next asks the service's escalation policy to join."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from bot.render.paging import PAGE_ACTION, page_button
from bot.store.models import Incident
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.fakes.slack.api import SlackEmulator
from tests.fakes.slack.blocks import validate_blocks
from tests.support.asgi import asgi_client
from tests.support.paging import CATALOG, POLICY, client_of, paging_fake
from tests.support.payloads import am_alert, am_payload
from tests.support.slack_requests import CHANNEL, SIGNING_SECRET, click, post
from tests.support.store import ingest

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with paging_fake(NOW) as fake:
        yield fake


@pytest.fixture
async def client(
    make_app: Callable[..., FastAPI], slack: SlackEmulator, pd: PagerDutyFake, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "services.yaml").write_text(CATALOG)
    app = make_app(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        services_file=tmp_path / "services.yaml",
    )
    runtime = app.state.runtime
    # The fake's certificate is self-signed: the executor gets an adapter that trusts it.
    pagerduty = client_of(pd)
    runtime.ops.executor.clients = replace(runtime.ops.executor.clients, pagerduty=pagerduty)
    ingest(runtime.engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    async with asgi_client(app) as c:
        yield c
        for close in runtime.closers:
            close()
    pagerduty.close()


def incident(client: httpx.AsyncClient) -> Incident:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        found = session.get(Incident, 1)
        assert found is not None
        return found


async def clicked(
    client: httpx.AsyncClient, slack: SlackEmulator, user: str, name: str, value: str = "1"
) -> dict[str, object]:
    await post(client, click(PAGE_ACTION, value, user, slack.response_url(name)))
    await slack.await_for(lambda: len(slack.responses(name)) == 1, timeout=10)
    [answer] = slack.responses(name)
    assert answer["response_type"] == "ephemeral"
    return answer


def test_the_page_button_is_valid_block_kit_and_only_on_an_open_incident() -> None:
    open_one = Incident(
        id=7, group_key="g", source="alertmanager", title="t", opened_at=NOW, status="firing"
    )
    button = page_button(open_one)
    assert button is not None
    assert (button["action_id"], button["value"]) == (PAGE_ACTION, "7")
    assert button["text"]["text"] == "Page on-call"
    assert validate_blocks([{"type": "actions", "elements": [button]}]) == []
    linked = page_button(open_one.model_copy(update={"pagerduty_incident_id": "Q1"}))
    assert linked is not None
    assert linked["text"]["text"] == "Page more"
    assert page_button(open_one.model_copy(update={"status": "resolved"})) is None


async def test_a_click_pages_for_an_allowed_person_only(
    client: httpx.AsyncClient, slack: SlackEmulator, pd: PagerDutyFake
) -> None:
    refused = await clicked(client, slack, "U0MALLORY", "m")
    assert "U0MALLORY may not run page_service" in str(refused["text"])
    assert pd.requests() == []

    paged = await clicked(client, slack, "U0ONCALL", "o")
    assert str(paged["text"]).startswith("Done: Paged fraud-scorer on PagerDuty: #1")
    [opened] = pd.incidents()
    assert [a["assignee"]["summary"] for a in opened["assignments"]] == ["Dana Scully"]
    linked = incident(client)
    assert linked.pagerduty_incident_id == opened["id"]
    assert linked.oncall == "Dana Scully"

    more = await clicked(client, slack, "U0ALICE", "a")
    assert str(more["text"]).startswith("Done: Asked ML on-call to join PagerDuty incident #1")
    [request] = pd.incident(opened["id"])["responder_requests"]
    targets = request["responder_request_targets"]
    assert targets[0]["responder_request_target"]["id"] == POLICY
    assert len(pd.incidents()) == 1


async def test_a_value_that_is_not_an_incident_pages_nobody(
    client: httpx.AsyncClient, slack: SlackEmulator, pd: PagerDutyFake
) -> None:
    answer = await clicked(client, slack, "U0ONCALL", "x", value="1;drop")
    assert answer["text"] == "That button is not one of opsbot's; nobody was paged."
    assert pd.requests() == []
