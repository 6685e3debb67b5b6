"""What "accepted" promises, checked: an incident that intake stored reads back through the API,
renders as valid Block Kit, and exports as a summary; the outbox sends every message it queued.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from bot.catalog.model import Catalog
from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.metrics import Metrics
from bot.outbox.sender import OutboxSender
from bot.render.blocks import root_message
from bot.store.models import Alert, Incident, OutboxMessage, OutboxStatus
from bot.summary.build import template_summary
from tests.fakes.slack.api import SlackEmulator
from tests.fakes.slack.blocks import validate_blocks


async def read_incident(
    client: httpx.AsyncClient, incident_id: int, auth: dict[str, str]
) -> dict[str, Any]:
    """``GET /api/v1/incidents/{id}``: 200 and a JSON body any client can decode."""
    response = await client.get(f"/api/v1/incidents/{incident_id}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json.loads(response.content.decode("utf-8"))
    return body


def assert_renders_and_exports(engine: Engine, incident_id: int) -> None:
    """The root message and the template summary of ``incident_id`` are valid Block Kit, and
    the export (Markdown) is text that UTF-8 can carry."""
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None
        total = s.exec(select(func.count()).where(Alert.incident_id == incident_id)).one()
        text, blocks = root_message(incident, 0, total)
        assert validate_blocks(blocks) == [], blocks
        text.encode("utf-8")
        draft = template_summary(s, incident_id, Catalog())
        assert validate_blocks(draft.slack_blocks) == []
        draft.markdown.encode("utf-8")


async def assert_outbox_drains(engine: Engine) -> None:
    """Every queued message goes to a Slack emulator (which checks Block Kit as Slack does)."""
    with SlackEmulator(channels=_channels(engine)) as slack:
        metrics = Metrics()
        transport = SlackWebTransport(make_web_client("xoxb-test-token", slack.api_url, 2), metrics)
        sender = OutboxSender(engine, transport, metrics, channel_rate=50, channel_burst=50)
        await sender.drain()
        assert slack.emulator_errors() == []
    with Session(engine) as s:
        left = s.exec(
            select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.last_error).where(
                col(OutboxMessage.status).not_in([OutboxStatus.SENT, OutboxStatus.MERGED])
            )
        ).all()
    assert list(left) == []


def _channels(engine: Engine) -> tuple[str, ...]:
    with Session(engine) as s:
        return tuple(s.exec(select(OutboxMessage.channel).distinct()).all())
