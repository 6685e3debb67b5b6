"""``/ops report [period]`` through the command grammar: the figures in words, and usage errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat.commands import CommandContext, run_command
from bot.clients.prometheus import PromClient
from bot.store.run_models import RunStatus
from bot.store.types import utcnow
from tests.reports.history import CATALOG, Store


@pytest.fixture
def ctx(engine: Engine) -> CommandContext:
    """Two incidents in the last 30 days (one in the last 7), one 40 days ago, two deploys."""
    now = utcnow().replace(microsecond=0)
    day, minute = timedelta(days=1), timedelta(minutes=1)
    with Session(engine) as session:
        s = Store(session)
        a = now - 3 * day
        s.incident(
            "A",
            "fraud-scorer",
            "critical",
            a,
            alerts=[("FraudScorerErrors", a)],
            ack=a + 5 * minute,
            resolved=a + 60 * minute,
        )
        b = now - 10 * day
        s.incident(
            "B",
            "ranker",
            "warning",
            b,
            alerts=[("RankerDown", b), ("RankerDown", b + minute)],
            ack=b + 15 * minute,
            resolved=b + 120 * minute,
        )
        c = now - 40 * day
        s.incident("C", "ranker", "critical", c, alerts=[("RankerDown", c)], ack=c + 60 * minute)
        s.deploy("D1", "fraud-scorer", "model", "1.4.2", a - 120 * minute)  # A 2 h later: failed
        s.deploy("D2", "ranker", "code", "r-51", now - 5 * day)
        s.run(
            "R1",
            "rollback_deployment",
            {"namespace": "ml-serving", "deployment": "fraud-scorer-api"},
            RunStatus.SUCCEEDED,
            a + 20 * minute,
            incident="A",
        )
        session.commit()
    return CommandContext(engine=engine, catalog=CATALOG)


def test_report_30d_gives_the_figures(ctx: CommandContext) -> None:
    reply = run_command(ctx, "report 30d")
    assert reply.ok
    lines = reply.text.splitlines()
    assert lines[0].startswith("Reliability report ")
    assert "(30 days)" in lines[0]
    assert "Incidents: 2 (critical 1, warning 1)" in lines  # C is 40 days old
    assert "  fraud-scorer: 1 (critical 1)" in lines
    # acknowledged after 300 s and 900 s: median 600 (10m); p90 300 + 0.9*600 = 840 (14m)
    assert "  MTTA (acknowledge): 10m00s / 14m00s (n=2)" in lines
    # resolved after 3600 s and 7200 s: median 5400 (1h30m); p90 3600 + 0.9*3600 = 6840 (1h54m)
    assert "  MTTR (resolve): 1h30m / 1h54m (n=2)" in lines
    assert "  MTTM (mitigate): 20m00s / 20m00s (n=1)" in lines  # the rollback, 20 min in
    assert "  MTTD (detect): — (n=0)" in lines
    assert "Deploys: 2 (code 1, model 1)" in lines
    assert (
        "Change failure rate: 50% (1 of 2 deploys followed by an incident on their service "
        "within 6h)" in lines
    )
    assert "  fraud-scorer: 1 deploys (model 1), 1 failed (100%)" in lines
    assert any(line.startswith("  failed: fraud-scorer model 1.4.2") for line in lines)
    assert "Rollbacks: 1 (fraud-scorer 1)" in lines
    assert "  RankerDown: 1 / 2" in lines
    assert reply.blocks[0]["type"] == "section"


def test_the_period_defaults_to_30_days_and_can_be_shorter(ctx: CommandContext) -> None:
    default = run_command(ctx, "report").text.splitlines()
    month = run_command(ctx, "report 30d").text.splitlines()
    assert "(30 days)" in default[0]
    assert "(30 days)" in month[0]
    # The first line names the period to the minute, and two calls may straddle one.
    assert default[1:] == month[1:]
    week = run_command(ctx, "report 7d").text.splitlines()
    assert "(7 days)" in week[0]
    assert "Incidents: 1 (critical 1)" in week
    year = run_command(ctx, "report 365d").text.splitlines()
    assert "Incidents: 3 (critical 2, warning 1)" in year


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("report yesterday", "Could not read `yesterday` as a period."),
        ("report 400d", "`400d` is out of range"),
        ("report 0h", "`0h` is out of range"),
        ("report 7d 30d", "Usage: /ops report [period]"),
    ],
)
def test_a_bad_period_answers_with_usage(ctx: CommandContext, text: str, why: str) -> None:
    reply = run_command(ctx, text)
    assert not reply.ok
    assert why in reply.text
    assert "Usage: /ops report [period]" in reply.text


def test_help_lists_the_report(ctx: CommandContext) -> None:
    assert "report [30d]" in run_command(ctx, "help").text


def test_the_change_failure_window_comes_from_the_context(ctx: CommandContext) -> None:
    # D1 was deployed 2 h before incident A: a failure within 6 h, not within 1 h.
    ctx.change_window_min = 60
    lines = run_command(ctx, "report 30d").text.splitlines()
    assert (
        "Change failure rate: 0% (0 of 2 deploys followed by an incident on their service "
        "within 1h)" in lines
    )


def test_drift_coverage_comes_from_the_contexts_prometheus(
    ctx: CommandContext, prom_client: PromClient
) -> None:
    # Without one, coverage is unknown and the report says why (recsys has no drift signal
    # whatever the rules say); with the real Prometheus, 1 of the 3 tier-1 services (see
    # tests/reports/test_drift_coverage.py).
    lines = run_command(ctx, "report").text.splitlines()
    assert (
        "Drift monitoring of 3 tier-1 services: unknown — Prometheus is not configured "
        "(OPSBOT_PROMETHEUS_URL)" in lines
    )
    assert "  not covered: recsys — no drift signal" in lines
    ctx.prometheus = prom_client
    lines = run_command(ctx, "report").text.splitlines()
    assert (
        "Drift monitoring: 33% of tier-1 services (1 of 3 with a drift signal an alerting rule "
        "reads)" in lines
    )
    # D1 is a production model deploy of 1.4.2, of which no registration is recorded
    assert any(
        line.startswith("  unknown: fraud-scorer 1.4.2") and "no registration" in line
        for line in lines
    )
    assert "Pipeline runs: none finished" in lines
