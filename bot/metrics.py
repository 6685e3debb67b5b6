"""Prometheus metrics, on a registry per app so tests can build several apps in one process.

Counters and histograms here are counted by the replica that did the work: sum them across the
fleet. What is read from the database at scrape time (outbox, runs, approvals, jobs) is the same
on every replica and comes from ``bot.telemetry``: take the max of it, never the sum.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alerts_received = Counter(
            "opsbot_alerts_received",
            "Alerts received in webhook deliveries",
            ["source"],
            registry=r,
        )
        self.alerts_deduplicated = Counter(
            "opsbot_alerts_deduplicated",
            "Alerts (or whole deliveries) dropped as redeliveries of something already stored",
            ["source"],
            registry=r,
        )
        self.webhook_rejected = Counter(
            "opsbot_webhook_rejected",
            "Webhook and API requests refused, by source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.incidents_opened = Counter(
            "opsbot_incidents_opened", "Incidents opened", ["source"], registry=r
        )
        self.incidents_resolved = Counter(
            "opsbot_incidents_resolved", "Incidents resolved", ["source"], registry=r
        )
        self.slack_calls = Counter(
            "opsbot_slack_calls",
            "Slack Web API calls by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.slack_latency = Histogram(
            "opsbot_slack_call_seconds",
            "Slack Web API call latency",
            ["method"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.outbox_depth = Gauge(
            "opsbot_outbox_depth",
            "Outbox rows waiting: Slack messages, and root redraws (folded together when sent)",
            registry=r,
        )
        self.enrichment_seconds = Histogram(
            "opsbot_enrichment_seconds",
            "Time to enrich a new incident (all sources, suspects, chart, saved)",
            buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30),
            registry=r,
        )
        self.enrichment_source = Counter(
            "opsbot_enrichment_source",
            "Enrichment source results by source and status (ok, unavailable, not_configured)",
            ["source", "status"],
            registry=r,
        )
        self.enrichment_source_seconds = Histogram(
            "opsbot_enrichment_source_seconds",
            "Time one enrichment source took for one incident, whatever its status",
            ["source"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
            registry=r,
        )
        self.slack_requests_refused = Counter(
            "opsbot_slack_requests_refused",
            "Requests to /slack/events refused before Bolt: too_large, bad_signature, stale",
            ["reason"],
            registry=r,
        )
        self.slack_events_deduplicated = Counter(
            "opsbot_slack_events_deduplicated",
            "Slack Events API deliveries dropped as retries of an event already handled",
            registry=r,
        )
        self.fleet_leader = Gauge(
            "opsbot_fleet_leader",
            "1 where this replica leads the kind of background work (outbox, enrich, jobs, "
            "summaries, runs)",
            ["kind"],
            registry=r,
        )
        self.ready = Gauge(
            "opsbot_ready",
            "1 where /readyz would answer 200 (not draining, and the database answered within "
            "the scrape's bound), else 0",
            registry=r,
        )
        self.state_reads = Counter(
            "opsbot_state_reads",
            "Database reads for the scrape-time gauges, by outcome: ok, timeout (the gauges are "
            "left out of that scrape), error, busy (the previous read is still running)",
            ["outcome"],
            registry=r,
        )
