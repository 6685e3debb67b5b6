"""deploy/grafana/opsbot.json: every panel's PromQL, run against a real Prometheus scraping a
running opsbot after a small storm, parses and returns data. No dead panels.

One opsbot (SQLite, the Slack emulator, the Kubernetes API fake with a Deployment it may roll
back) and one Prometheus (scraping it every second as job="opsbot") serve the whole module. The
storm: alert groups from Alertmanager (one delivered twice, one resolved), one delivery with a
wrong token, one Slack request with a bad signature, a 429 from Slack on the first post, and a
playbook run (`/ops run rollback-model-deploy fraud-scorer`) left waiting for its approval.
Enrichment runs on each new incident by itself. No Ray job runs (a Ray head costs more than this
whole test): the job panels read gauges reported for every status, zeros included, and the
tracker's lag. Grafana's variables are substituted as Grafana would with this data source
(scrape interval 1 s) and "All" replicas.
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

from tests.integration.promstack import Prometheus, wait_until
from tests.support.fleet import CHANNEL, TOKEN, deliver, storm
from tests.support.payloads import am_alert, am_payload
from tests.support.rollback_world import World, make_world
from tests.support.server import ROOT, BotProcess
from tests.support.slack_requests import post_to_bot, slash_command

pytestmark = pytest.mark.integration

DASHBOARD = ROOT / "deploy" / "grafana" / "opsbot.json"
JOB = "opsbot"
# Grafana: $__rate_interval = max($__interval + scrape interval, 4 * scrape interval); with the
# data source's scrape interval at 1 s (as scraped here) and a short $__interval, 4 s.
VARIABLES = {"__rate_interval": "4s", "job": JOB, "instance": ".*"}  # "All" is allValue .*
# The world's catalog, with a policy that lets the on-call ask for the rollback playbook.
CATALOG = """
services:
  fraud-scorer:
    namespace: ml-serving
    deployments: [fraud-scorer]
    signals: [{name: error_rate, query: 'max(up)'}]
policy:
  namespaces: [ml-serving]
  groups: {sre: [U0ALICE, U0BOB]}
  rules:
    - actions: [rollback_deployment]
      playbooks: [rollback-model-deploy]
      run: [U0ONCALL]
      approve: ["@sre"]
"""
# What the storm must have left in Prometheus, over two scrapes at least, before the panels are
# read: each query returns a series once it holds.
EVIDENCE = (
    *(
        f"count_over_time({series}[4s]) >= 2"
        for series in (
            "opsbot_alerts_deduplicated_total",
            "opsbot_incidents_resolved_total",
            "opsbot_webhook_rejected_total",
            "opsbot_slack_requests_refused_total",
            'opsbot_slack_calls_total{outcome="ratelimited"}',
            "opsbot_enrichment_source_seconds_count",
            "opsbot_enrichment_seconds_count",
            "opsbot_job_tracker_lag_seconds",
        )
    ),
    'min_over_time(opsbot_playbook_runs{status="waiting"}[4s]) >= 1',
    "min_over_time(opsbot_approvals_waiting[4s]) >= 1",
    'min_over_time(opsbot_incidents_open{status="firing"}[4s]) >= 2',
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
    with make_world(tmp, f"sqlite:///{tmp}/opsbot.db") as world:
        world.env["OPSBOT_ALERTMANAGER_TOKEN"] = TOKEN
        (tmp / "services.yaml").write_text(CATALOG)
        bot = BotProcess(world.env, log_path=tmp / "opsbot.log")
        # Prometheus first, on the bot's port: its target discovery overlaps the bot's start.
        prometheus = Prometheus(tmp / "prometheus", bot.url, job=JOB).start(wait_wired=False)
        try:
            with bot:
                world.slack.rate_limit_next("chat.postMessage")  # the first post: 429, then a retry
                prometheus.wait_wired()
                small_storm(bot.url)
                start_playbook_run(world, bot)
                wait_until(
                    lambda: len(world.slack.roots(CHANNEL)) >= 3,
                    30,
                    "three incident threads in Slack",
                    lambda: bot.logs()[-3000:],
                )
                wait_until(
                    lambda: all(holds(prometheus, e) for e in EVIDENCE),
                    30,
                    "Prometheus to have scraped the storm twice",
                    lambda: missing(prometheus) + bot.logs()[-2000:],
                )
                yield Scraped(prometheus, bot)
        finally:
            prometheus.stop()


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


def start_playbook_run(world: World, bot: BotProcess) -> None:
    """``/ops run rollback-model-deploy fraud-scorer``: the run waits for its approval."""
    post_to_bot(
        bot,
        slash_command("run rollback-model-deploy fraud-scorer", world.slack.response_url("run")),
    )
    wait_until(
        lambda: bool(world.slack.responses("run")),
        20,
        "the playbook run's answer",
        lambda: bot.logs()[-3000:],
    )


def holds(prometheus: Prometheus, condition: str) -> bool:
    answer = prometheus.query(condition)
    return answer["status"] == "success" and bool(answer["data"]["result"])


def missing(prometheus: Prometheus) -> str:
    return "not yet: " + ", ".join(e for e in EVIDENCE if not holds(prometheus, e)) + "\n"


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


def test_the_waiting_playbook_run_and_its_approval_show(scraped: Scraped) -> None:
    def value(query: str) -> float:
        [sample] = scraped.prometheus.query(query)["data"]["result"]
        return float(sample["value"][1])

    assert value('max(opsbot_playbook_runs{job="opsbot", status="waiting"})') == 1
    assert value('max(opsbot_action_runs{job="opsbot", status="awaiting_approval"})') == 1
    assert value('max(opsbot_approvals_waiting{job="opsbot"})') == 1
    assert value('max(opsbot_approval_oldest_waiting_age_seconds{job="opsbot"})') > 0


@pytest.mark.parametrize("panel", graph_panels(), ids=lambda p: str(p["title"]))
def test_every_panel_has_data(scraped: Scraped, panel: dict[str, Any]) -> None:
    assert dead_targets(scraped.prometheus, panel) == []
