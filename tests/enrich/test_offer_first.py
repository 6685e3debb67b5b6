"""The playbook is offered on the root while enrichment is still running: the likely cause and the
playbooks go up (an interactive root edit) as soon as the suspects are ranked, before the chart is
drawn; the enrichment reply and the chart come after. A real Prometheus gives the chart its
series; the outbox runs as in production (its loop, woken when the offer is committed)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlmodel import Session, select

from bot.clients.prometheus import PromClient
from bot.enrich import runner
from bot.enrich.runner import warm_up
from bot.store.models import Attachment, Incident
from tests.enrich.conftest import FRAUD_CHANNEL, ago, running_bot
from tests.fakes.slack.api import SlackEmulator
from tests.integration.promstack import Prometheus, wait_until
from tests.support.exporter import ScriptedExporter

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
QUERY = 'sum(opsbot_test_error_ratio{service="fraud-scorer"})'
CATALOG = f"""\
services:
  fraud-scorer:
    namespace: ml-serving
    deployments: [fraud-scorer]
    model: fraud-model
    signals:
      - {{name: error_ratio, query: '{QUERY}'}}
    channel: {FRAUD_CHANNEL}
"""


def first_call(slack: SlackEmulator, method: str, marker: str) -> int:
    """The position of the first successful ``method`` call whose arguments hold ``marker``."""
    return next(
        i
        for i, c in enumerate(slack.calls())
        if c["method"] == method and c["ok"] and marker in json.dumps(c["args"])
    )


async def test_the_offer_is_on_the_root_before_the_chart_is_drawn(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This test is about order, not speed: a busy CI host may take longer than 3 s to draw.
    monkeypatch.setattr(runner, "CHART_TIMEOUT_S", 60.0)
    (tmp_path / "services.yaml").write_text(CATALOG)
    with ScriptedExporter() as exporter:
        exporter.set("opsbot_test_error_ratio", 0.01, labels={"service": "fraud-scorer"})
        with Prometheus(tmp_path / "prom", exporter.url) as prometheus:
            client = PromClient(prometheus.url, timeout_s=2.0)
            origin = datetime.now(UTC) - timedelta(seconds=5)
            wait_until(
                lambda: len(client.query_range(QUERY, origin, datetime.now(UTC), 1.0)) >= 3,
                40,
                "three samples to draw",
                prometheus.log_tail,
            )
            async with running_bot(
                sqlite_url,
                tmp_path,
                slack,
                prometheus_url=prometheus.url,
                metrics_window_min=5,
                playbooks_dir=PLAYBOOKS,
            ) as bot:
                await anyio.to_thread.run_sync(warm_up)  # matplotlib, as the worker loads it
                await bot.deploy(kind="model", version="1.4.2", timestamp=ago(minutes=6))
                incident_id = await bot.alert(ago(seconds=30), service="fraud-scorer")
                await bot.rt.sender.drain()  # the root
                seen: list[tuple[Any, ...]] = []

                def offered() -> None:  # what the database holds when the offer is queued
                    with Session(bot.rt.engine) as session:
                        incident = session.get(Incident, incident_id)
                        assert incident is not None
                        charts = session.exec(
                            select(Attachment).where(Attachment.incident_id == incident_id)
                        ).all()
                        seen.append((incident.enrichment_state, incident.playbooks, len(charts)))
                    bot.rt.sender.wake()

                stop = asyncio.Event()
                sending = asyncio.create_task(bot.rt.sender.run(stop))
                try:
                    outcome = await bot.rt.enrichment.enricher.enrich(incident_id, offered)
                    assert outcome is not None
                    assert outcome.results["chart"].status == "ok", outcome.results["chart"]
                    await slack.await_for(lambda: len(slack.files(FRAUD_CHANNEL)) == 1, 20)
                finally:
                    stop.set()
                    await sending

    # Still enriching, no chart yet, and the playbook that fits the model deploy offered.
    [(state, playbooks, charts)] = seen
    assert (state, charts) == ("pending", 0)
    assert playbooks[0] == "rollback-model-deploy"
    # Seen from Slack: the root edit with the offer came first, the reply and the chart after.
    offer = first_call(slack, "chat.update", f"{incident_id}:rollback-model-deploy")
    reply = first_call(slack, "chat.postMessage", "Suspects")
    chart = first_call(slack, "files.completeUploadExternal", "")
    assert offer < reply < chart
    [root] = slack.roots(FRAUD_CHANNEL)
    assert "Likely cause" in json.dumps(root["blocks"])
