"""opsbot's own alerts: the rules pass promtool's checks and unit tests (which can fail), the Helm
chart ships the same groups, and Alertmanager sends them to the operators, never to opsbot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import (
    ALERTMANAGER_YML,
    HELM_OPSBOT_RULES_YML,
    OPSBOT_RULES_TESTS_YML,
    OPSBOT_RULES_YML,
    ROOT,
    check,
    tool,
)

OPERATORS = "opsbot-operators"


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(OPSBOT_RULES_YML.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def unit_tests() -> list[dict[str, Any]]:
    return [
        check
        for test in yaml.safe_load(OPSBOT_RULES_TESTS_YML.read_text())["tests"]
        for check in test["alert_rule_test"]
    ]


def promtool_test(tests_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), "test", "rules", str(tests_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------------------------
# The rules


@pytest.mark.parametrize("rules", [OPSBOT_RULES_YML, HELM_OPSBOT_RULES_YML], ids=["repo", "helm"])
def test_promtool_check_opsbot_rules(rules: Path) -> None:
    out = check([tool("promtool"), "check", "rules", str(rules.relative_to(ROOT))])
    assert f"SUCCESS: {len(alert_rules())} rules found" in out, out


def test_helm_chart_ships_the_same_groups() -> None:
    assert (
        yaml.safe_load(HELM_OPSBOT_RULES_YML.read_text())["groups"]
        == yaml.safe_load(OPSBOT_RULES_YML.read_text())["groups"]
    )


def test_every_opsbot_alert_pages_the_operators_with_words() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "OpsbotDown",
        "OpsbotNotReady",
        "OpsbotWebhooksRejected",
        "OpsbotOutboxBacklog",
        "OpsbotOutboxStalled",
        "OpsbotSlackErrors",
        "OpsbotSlackRateLimited",
        "OpsbotEnrichmentSourceFailing",
        "OpsbotPlaybookRunStuck",
        "OpsbotApprovalWaiting",
        "OpsbotJobTrackerBehind",
    }
    for rule in rules:
        assert rule["labels"]["service"] == "opsbot", rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_every_opsbot_alert_is_unit_tested_firing_and_quiet() -> None:
    checks = unit_tests()
    fired = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    names = {r["alert"] for r in alert_rules()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


def test_opsbot_rule_unit_tests_pass() -> None:
    result = promtool_test(OPSBOT_RULES_TESTS_YML)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_tests_catch_a_sum_over_replicas(tmp_path: Path) -> None:
    """The unit tests can fail: summing a database gauge over two replicas doubles it, and the
    tests say so."""
    (tmp_path / "tests").mkdir()
    shutil.copy(OPSBOT_RULES_TESTS_YML, tmp_path / "tests" / OPSBOT_RULES_TESTS_YML.name)
    rules = OPSBOT_RULES_YML.read_text()
    assert "max without (instance, pod) (opsbot_outbox_depth)" in rules
    (tmp_path / OPSBOT_RULES_YML.name).write_text(
        rules.replace(
            "max without (instance, pod) (opsbot_outbox_depth)",
            "sum without (instance, pod) (opsbot_outbox_depth)",
        )
    )
    result = promtool_test(tmp_path / "tests" / OPSBOT_RULES_TESTS_YML.name)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "1200 Slack messages wait" in output, output


# --------------------------------------------------------------------------------------------
# Routing: opsbot's alerts reach someone other than opsbot


def receiver_for(**labels: str) -> str:
    argv = [
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_YML.relative_to(ROOT)}",
        *(f"{key}={value}" for key, value in labels.items()),
    ]
    return check(argv).splitlines()[0].strip()


def test_opsbot_down_does_not_go_to_opsbot() -> None:
    assert receiver_for(service="opsbot", alertname="OpsbotDown") == OPERATORS


def test_every_opsbot_alert_goes_to_the_operators() -> None:
    for rule in alert_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        assert receiver_for(**labels) == OPERATORS, rule["alert"]


def test_a_model_alert_still_goes_to_opsbot() -> None:
    model_alert = {
        "alertname": "ModelServingHighErrorRate",
        "service": "fraud-scorer",
        "severity": "page",
    }
    assert receiver_for(**model_alert) == "opsbot"


def test_the_operators_are_paged_with_a_key_from_a_file() -> None:
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    [operators] = [r for r in config["receivers"] if r["name"] == OPERATORS]
    assert "webhook_configs" not in operators  # nothing that points back at the bot
    [pagerduty] = operators["pagerduty_configs"]
    assert pagerduty["routing_key_file"]
    assert "routing_key" not in pagerduty
    assert "service_key" not in pagerduty
    # One opsbot replica paging must not silence the warnings of the others.
    for rule in config["inhibit_rules"]:
        assert 'service!="opsbot"' in rule["target_matchers"], rule
