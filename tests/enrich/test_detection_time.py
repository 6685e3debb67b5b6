"""Time to detect: the metrics enrichment records when each catalog signal first left its normal
band (``first_deviation_at``), and the incident's phases read it back.

The band is the start of the fetched window (``detection_start`` in bot/enrich/runner.py), so a
signal that went bad before the alert fired is found where it went bad, not after the alert.
The end-to-end test runs a real Prometheus scraping an exporter whose error ratio jumps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.clients.prometheus import PromClient
from bot.enrich.runner import detection_start
from bot.enrich.types import SignalSeries
from bot.incidents.phases import phases_of
from bot.store.models import Incident
from tests.enrich.conftest import running_bot
from tests.fakes.slack.api import SlackEmulator
from tests.integration.promstack import Prometheus, wait_until
from tests.support.exporter import ScriptedExporter

METRIC = "opsbot_test_error_ratio"
LABELS = {"service": "fraud-scorer"}
QUERY = 'sum(opsbot_test_error_ratio{service="fraud-scorer"})'
ALERT = datetime(2026, 10, 2, 10, 0, tzinfo=UTC)


def series(values: dict[float, float]) -> SignalSeries:
    """Points at ``ALERT + t`` seconds."""
    start = ALERT.timestamp()
    return SignalSeries("error_ratio", QUERY, [(start + t, v) for t, v in sorted(values.items())])


def test_a_deviation_before_the_alert_is_found_where_it_began() -> None:
    # an hour of a steady 1% (with a little noise), then 20% from 5 minutes before the alert
    steady = {t: 0.01 + 0.0005 * (i % 3 - 1) for i, t in enumerate(range(-3600, -300, 15))}
    bad = {t: 0.2 for t in range(-300, 120, 15)}
    assert detection_start(series(steady | bad), ALERT) == ALERT - timedelta(minutes=5)


def test_no_deviation_or_no_baseline_is_none() -> None:
    assert detection_start(series({t: 0.01 for t in range(-3600, 120, 15)}), ALERT) is None
    # nothing before the alert to compare with
    assert detection_start(series({t: 0.2 for t in range(0, 120, 15)}), ALERT) is None
    assert detection_start(series({}), ALERT) is None


@pytest.mark.integration
async def test_the_enrichment_records_the_deviation_and_phases_read_it(
    sqlite_url: str, tmp_path: Path, slack: SlackEmulator
) -> None:
    with ScriptedExporter() as exporter:
        exporter.set(METRIC, 0.01, labels=LABELS)
        with Prometheus(tmp_path / "prom", exporter.url) as prometheus:
            client = PromClient(prometheus.url, timeout_s=2.0)
            origin = datetime.now(UTC) - timedelta(seconds=5)

            def points() -> list[tuple[float, float]]:
                return client.query_range(QUERY, origin, datetime.now(UTC), 1.0)

            wait_until(lambda: len(points()) >= 15, 40, "15 baseline samples", prometheus.log_tail)
            change_at = datetime.now(UTC)
            exporter.set(METRIC, 0.2, labels=LABELS)
            wait_until(
                lambda: sum(1 for _, v in points() if v > 0.1) >= 8,
                30,
                "8 samples after the jump",
                prometheus.log_tail,
            )
            # the alert fires 8 s after the signal went bad (its `for:`, say)
            alert_start = change_at + timedelta(seconds=8)
            # not in the future (the incident would open at its arrival instead)
            await asyncio.sleep(max(0.0, (alert_start - datetime.now(UTC)).total_seconds()))
            async with running_bot(
                sqlite_url, tmp_path, slack, prometheus_url=prometheus.url, metrics_window_min=5
            ) as bot:
                incident_id = await bot.alert(alert_start, service="fraud-scorer")
                outcome = await bot.enrich(incident_id)

    metrics = outcome.results["metrics"]
    assert metrics.status == "ok", metrics.reason
    [signal] = metrics.data["signals"]
    found = datetime.fromisoformat(signal["first_deviation_at"])
    # the first range point showing the new value: at or after the change, within a scrape
    # interval (1 s) and a query step (~1.3 s) of it
    assert change_at <= found <= change_at + timedelta(seconds=5)
    engine = bot.rt.engine
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        phases = phases_of(session, incident)
    engine.dispose()
    assert phases.deviated_at == found
    assert phases.alerted_at == alert_start
    assert phases.time_to_detect == alert_start - found
    assert timedelta(seconds=3) <= alert_start - found <= timedelta(seconds=8)
