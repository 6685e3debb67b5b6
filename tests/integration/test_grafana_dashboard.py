"""deploy/grafana/opsbot.json: every panel's PromQL, run against a real Prometheus scraping a
running opsbot after a small storm, parses and returns data. No dead panels.

One opsbot (SQLite, the Slack emulator) and one Prometheus (scraping it every second as
job="opsbot") serve the whole module. The storm: alert groups from Alertmanager (one delivered
twice, one resolved), one delivery with a wrong token, one Slack request with a bad signature,
and a 429 from Slack on the first post. Enrichment runs on each new incident by itself. Panels on
runs, approvals and jobs read gauges that the bot reports for every status, zeros included.
Grafana's variables are substituted as Grafana would with this data source (scrape interval
1 s) and "All" replicas.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fakes.slack_api import SlackEmulator
from tests.integration.promstack import Prometheus, wait_until
from tests.support.fleet import CHANNEL, deliver, fleet_env, storm
from tests.support.payloads import am_alert, am_payload
from tests.support.server import ROOT, BotProcess

pytestmark = pytest.mark.integration

DASHBOARD = ROOT / "deploy" / "grafana" / "opsbot.json"
JOB = "opsbot"
# Grafana: $__rate_interval = max($__interval + scrape interval, 4 * scrape interval); with the
# data source's scrape interval at 1 s (as scraped here) and a short $__interval, 4 s.
VARIABLES = {"__rate_interval": "4s", "job": JOB, "instance": ".*"}  # "All" is allValue .*
# What the storm must have left in Prometheus (two scrapes at least) before the panels are read.
EVIDENCE = (
    "opsbot_alerts_deduplicated_total",
    "opsbot_incidents_resolved_total",
    "opsbot_webhook_rejected_total",
    "opsbot_slack_requests_refused_total",
    'opsbot_slack_calls_total{outcome="ratelimited"}',
    "opsbot_enrichment_source_seconds_count",
    "opsbot_enrichment_seconds_count",
    "opsbot_job_tracker_lag_seconds",
    "opsbot_incidents_open",
)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def graph_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def substitute(expr: str) -> str:
    """``$name`` and ``${name}`` replaced as Grafana would; an unknown variable fails."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in VARIABLES, f"unknown dashboard variable ${name} in {expr}"
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dead_targets(prometheus: Prometheus, panel: dict[str, Any]) -> list[str]:
    """The panel's queries that fail to parse or return no series, with why."""
    dead = []
    for target in panel["targets"]:
        query = substitute(target["expr"])
        answer = prometheus.query(query)
        if answer["status"] != "success":
            dead.append(f"{query}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            dead.append(f"{query}: no data")
    return dead


@dataclass
class Scraped:
    prometheus: Prometheus
    bot: BotProcess


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    tmp = tmp_path_factory.mktemp("dashboard")
    with SlackEmulator(channels=(CHANNEL,)) as slack:
        env = fleet_env(f"sqlite:///{tmp}/opsbot.db", slack)
        with BotProcess(env, log_path=tmp / "opsbot.log") as bot:
            slack.rate_limit_next("chat.postMessage")  # the first post: a 429, then retried
            with Prometheus(tmp / "prometheus", bot.url, job=JOB) as prometheus:
                small_storm(bot.url)
                wait_until(
                    lambda: len(slack.roots(CHANNEL)) >= 3,
                    30,
                    "three incident threads in Slack",
                    lambda: bot.logs()[-3000:],
                )
                wait_until(
                    lambda: all(in_two_scrapes(prometheus, e) for e in EVIDENCE),
                    30,
                    "Prometheus to have scraped the storm twice",
                    lambda: missing(prometheus) + bot.logs()[-2000:],
                )
                yield Scraped(prometheus, bot)


def small_storm(url: str) -> None:
    deliveries = storm(groups=3, per_group=4, per_delivery=2, prefix="dash")
    for payload in [*deliveries, deliveries[0]]:  # the last one again: deduplicated
        assert deliver(url, payload) == 200
    resolved = [am_alert("dash-0", n, status="resolved") for n in range(4)]
    assert deliver(url, am_payload("dash-0", resolved)) == 200
    wrong_token = httpx.post(
        f"{url}/webhooks/alertmanager",
        content=json.dumps(deliveries[1]),
        headers={"Authorization": "Bearer not-the-token"},
        timeout=10,
    )
    assert wrong_token.status_code == 401
    forged = httpx.post(
        f"{url}/slack/events",
        content=b'{"type": "event_callback"}',
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64,
        },
        timeout=10,
    )
    assert forged.status_code == 401


def in_two_scrapes(prometheus: Prometheus, selector: str) -> bool:
    answer = prometheus.query(f"count_over_time({selector}[4s]) >= 2")
    return answer["status"] == "success" and bool(answer["data"]["result"])


def missing(prometheus: Prometheus) -> str:
    return "not yet scraped twice: " + ", ".join(
        e for e in EVIDENCE if not in_two_scrapes(prometheus, e)
    )


# --------------------------------------------------------------------------------------------
# The dashboard as Grafana loads it


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_variable() -> None:
    board = dashboard()
    assert board["uid"] == "opsbot-self"
    assert 36 <= board["schemaVersion"] <= 41
    [source] = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
    assert source["type"] == "datasource"
    assert source["query"] == "prometheus"
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == [
        "Intake and deduplication",
        "Open incidents",
        "Slack outbox",
        "Slack API",
        "Enrichment",
        "Playbook runs and approvals",
        "Ray jobs",
        "Fleet",
    ]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in graph_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'job="$job", instance=~"$instance"' in target["expr"], target["expr"]


def test_a_dead_query_is_caught(scraped: Scraped) -> None:
    """The check below can fail: a query with no data, or one that does not parse."""
    panel = {
        "targets": [
            {"expr": 'opsbot_no_such_metric{job="$job"}'},
            {"expr": "sum(rate(opsbot_slack_calls_total[$__rate_interval])"},
        ]
    }
    dead = dead_targets(scraped.prometheus, panel)
    assert len(dead) == 2, dead
    assert "no data" in dead[0]
    assert "parse error" in dead[1]


@pytest.mark.parametrize("panel", graph_panels(), ids=lambda p: str(p["title"]))
def test_every_panel_has_data(scraped: Scraped, panel: dict[str, Any]) -> None:
    assert dead_targets(scraped.prometheus, panel) == []
