"""Metrics in the incident thread: a real Prometheus scraping an exporter whose error ratio jumps
right after a model deploy. The thread gets baseline → now for the catalog signal, the suspect
quotes the jump, and a PNG chart (with the deploy marked) is uploaded with files_upload_v2."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.clients.prometheus import PromClient
from tests.enrich.conftest import FRAUD_CHANNEL, running_bot
from tests.fakes.slack.api import SlackEmulator
from tests.integration.promstack import Prometheus, wait_until
from tests.support.exporter import ScriptedExporter

pytestmark = pytest.mark.integration

METRIC = "opsbot_test_error_ratio"
LABELS = {"service": "fraud-scorer"}
QUERY = 'sum(opsbot_test_error_ratio{service="fraud-scorer"})'


def points_since(prom: PromClient, since: datetime) -> list[tuple[float, float]]:
    return prom.query_range(QUERY, since, datetime.now(UTC), 1.0)


async def test_the_thread_gets_metrics_evidence_and_a_chart(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator
) -> None:
    with ScriptedExporter() as exporter:
        exporter.set(METRIC, 0.01, labels=LABELS)
        with Prometheus(tmp_path / "prom", exporter.url) as prometheus:
            client = PromClient(prometheus.url, timeout_s=2.0)
            origin = datetime.now(UTC) - timedelta(seconds=5)
            # Enough baseline that its guard (a fifth of the pre-alert span) covers more than a
            # scrape interval before the change: with six samples (a ~1.6 s guard) a range step
            # just after the change could show the new value and land in the baseline.
            wait_until(
                lambda: len(points_since(client, origin)) >= 15,
                40,
                "fifteen baseline samples",
                prometheus.log_tail,
            )
            change_at = datetime.now(UTC)
            exporter.set(METRIC, 0.2, labels=LABELS)
            wait_until(
                lambda: sum(1 for t, v in points_since(client, origin) if v > 0.1) >= 5,
                30,
                "five samples after the jump",
                prometheus.log_tail,
            )
            alert_start = change_at + timedelta(seconds=2)

            async with running_bot(
                sqlite_url, tmp_path, slack, prometheus_url=prometheus.url, metrics_window_min=5
            ) as bot:
                await bot.deploy(kind="model", version="1.4.2", actor="ci", timestamp=change_at)
                incident_id = await bot.alert(alert_start, service="fraud-scorer")
                began = time.monotonic()
                outcome = await bot.enrich(incident_id)
                took = time.monotonic() - began

            metrics = outcome.results["metrics"]
            assert metrics.status == "ok", metrics.reason
            signal = metrics.data["signals"][0]
            assert signal["name"] == "error_ratio"
            assert signal["baseline"] == pytest.approx(0.01, rel=0.2)
            assert signal["now"] == pytest.approx(0.2, rel=0.2)
            assert signal["deviated"] is True

            top = outcome.suspects[0]
            assert top.ref == "fraud-model 1.4.2"
            assert "error_ratio +" in top.reason
            assert top.reason.endswith("after it")

            files = slack.files(FRAUD_CHANNEL)
            assert len(files) == 1
            png = files[0]
            assert png["filename"] == f"incident-{incident_id}-metrics.png"
            image = Image.open(io.BytesIO(png["content"]))
            assert image.format == "PNG"
            assert image.size == (1200, 800)
            assert "error_ratio" in png["alt_text"]
            root = slack.roots(FRAUD_CHANNEL)[0]
            assert png["thread_ts"] == root["ts"]
            replies = slack.replies(FRAUD_CHANNEL, root["ts"])
            text = json.dumps([r.get("blocks") for r in replies], ensure_ascii=False)
            assert "*error_ratio* 0.01 → 0.2" in text
            assert ":warning:" in text
            assert outcome.results["chart"].status == "ok"
            assert took < 5.0
