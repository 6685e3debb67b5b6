"""Renders the last ``WorkState`` read as gauges, when ``/metrics`` is scraped.

A scrape whose read failed leaves these gauges out (a stale age would hide a growing backlog);
``opsbot_state_reads_total{outcome}`` counts why. ``opsbot_job_tracker_lag_seconds`` comes only
from the replica leading "jobs": seconds since its tracker last finished a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.telemetry.work_state import WorkState


class WorkStateCollector(Collector):
    def __init__(self, job_tracker_lag: Callable[[], float | None]) -> None:
        self.state: WorkState | None = None  # set by StateReader before each scrape renders
        self.job_tracker_lag = job_tracker_lag

    def collect(self) -> Iterator[Metric]:
        lag = self.job_tracker_lag()
        if lag is not None:
            yield _gauge(
                "opsbot_job_tracker_lag_seconds",
                "Seconds since the job tracker last finished a pass over the active Ray jobs "
                "(only from the replica leading jobs)",
                lag,
            )
        state = self.state
        if state is None:
            return
        yield _by_status(
            "opsbot_incidents_open",
            "Incidents not yet resolved, by status (firing, acknowledged)",
            state.incidents_open,
        )
        yield _gauge(
            "opsbot_outbox_oldest_age_seconds",
            "Age of the oldest Slack message not yet sent (pending or sending); 0 when none",
            state.outbox_oldest_age_s,
        )
        yield _by_status(
            "opsbot_action_runs", "Action runs not yet finished, by status", state.action_runs
        )
        yield _by_status(
            "opsbot_playbook_runs",
            "Playbook runs not yet finished, by status (waiting: for an approval)",
            state.playbook_runs,
        )
        yield _by_status("opsbot_jobs", "Ray jobs opsbot follows, by status", state.jobs)
        yield _gauge(
            "opsbot_approvals_waiting",
            "Approval requests pending a click and not yet expired",
            state.approvals_waiting,
        )
        yield _gauge(
            "opsbot_approval_oldest_waiting_age_seconds",
            "Age of the oldest approval request pending a click (not expired); 0 when none",
            state.approval_oldest_waiting_age_s,
        )
        yield _gauge(
            "opsbot_action_run_oldest_applying_age_seconds",
            "Seconds since the least recently changed approved or running action run changed; "
            "0 when none",
            state.action_run_oldest_applying_age_s,
        )
        yield _gauge(
            "opsbot_playbook_run_oldest_running_age_seconds",
            "Seconds since the least recently changed running playbook run (not waiting for an "
            "approval) changed; 0 when none",
            state.playbook_run_oldest_running_age_s,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _by_status(name: str, documentation: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for status, count in counts.items():
        family.add_metric([status], count)
    return family
