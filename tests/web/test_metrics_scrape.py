"""/metrics reads the work state at each scrape: ``opsbot_ready`` says what /readyz says, and the
database gauges come with zeros for every status (``bot.telemetry``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from tests.integration.promstack import metric_value
from tests.support.asgi import asgi_client

GAUGES = (
    "opsbot_incidents_open",
    "opsbot_outbox_oldest_age_seconds",
    "opsbot_action_runs",
    "opsbot_playbook_runs",
    "opsbot_jobs",
    "opsbot_approvals_waiting",
    "opsbot_approval_oldest_waiting_age_seconds",
    "opsbot_action_run_oldest_applying_age_seconds",
    "opsbot_playbook_run_oldest_running_age_seconds",
)


async def test_a_scrape_reports_ready_and_the_work_state(make_app: Callable[..., FastAPI]) -> None:
    async with asgi_client(make_app()) as client:
        text = (await client.get("/metrics")).text
        assert metric_value(text, "opsbot_ready") == 1
        for gauge in GAUGES:
            assert metric_value(text, gauge) == 0, gauge
        assert metric_value(text, "opsbot_playbook_runs", status="waiting") == 0
        assert metric_value(text, "opsbot_state_reads_total", outcome="ok") == 1
        # No replica here follows jobs (the fleet is not started): no lag to report.
        assert metric_value(text, "opsbot_job_tracker_lag_seconds") is None

        client.app.state.runtime.draining = True  # type: ignore[attr-defined]
        text = (await client.get("/metrics")).text
        assert metric_value(text, "opsbot_ready") == 0
        assert (await client.get("/readyz")).status_code == 503
