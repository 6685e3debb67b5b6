"""Prometheus and Alertmanager configuration: promtool/amtool checks, the alert rules, and the
Alertmanager -> opsbot webhook (its URL, and one bearer token on both sides).

promtool and amtool come from the Debian packages that scripts/test.sh installs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.web.body import bearer_ok
from tests.deploy.helpers import (
    ALERTMANAGER_YML,
    DEV_ALERTMANAGER_TOKEN,
    PROMETHEUS_YML,
    ROOT,
    RULES_YML,
    WEBHOOK_PATH,
    RunCompose,
    check,
    opsbot_webhook,
    token_file_in_container,
    tool,
)

# --------------------------------------------------------------------------------------------
# Alertmanager -> opsbot: URL and bearer token


def test_alertmanager_routes_model_alerts_to_the_bot_webhook(model: dict[str, Any]) -> None:
    """The default route is opsbot; opsbot's own alerts take another (test_self_monitoring.py)."""
    am_config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    route = am_config["route"]
    assert route["receiver"] == "opsbot"
    assert route["group_by"] == ["alertname", "service"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert key in route
    webhook = opsbot_webhook(am_config)
    url = urlsplit(webhook["url"])
    assert url.scheme == "http"
    assert url.hostname == "opsbot"
    assert url.hostname in model["services"]
    bot_port = int(model["services"]["opsbot"]["ports"][0]["target"])
    assert url.port == bot_port == 8080
    assert url.path == WEBHOOK_PATH
    assert webhook["send_resolved"] is True
    auth = webhook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    assert auth["credentials_file"]
    # The secret is never written into the committed file.
    assert "credentials" not in auth
    assert DEV_ALERTMANAGER_TOKEN not in ALERTMANAGER_YML.read_text()


def test_alertmanager_token_file_is_where_compose_writes_it(model: dict[str, Any]) -> None:
    read_from, written_to = token_file_in_container(model)
    assert read_from == written_to


def _files_read(node: Any) -> list[str]:
    """Every ``*_file`` setting in an Alertmanager config (credentials, routing keys...)."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k.endswith("_file") and isinstance(v, str)]
        return found + [f for v in node.values() for f in _files_read(v)]
    if isinstance(node, list):
        return [f for v in node for f in _files_read(v)]
    return []


def test_every_secret_file_alertmanager_reads_is_written_by_compose(
    run_compose: RunCompose,
) -> None:
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    am = resolved["services"]["alertmanager"]
    config_dir = "/etc/alertmanager"
    written = {c["target"]: resolved["configs"][c["source"]]["content"] for c in am["configs"]}
    read = _files_read(yaml.safe_load(ALERTMANAGER_YML.read_text()))
    assert "secrets/opsbot-operators-pagerduty-key" in read  # opsbot's own alerts page people
    for relative in read:
        path = f"{config_dir}/{relative}"
        assert path in written, f"alertmanager.yml reads {relative}; compose does not write it"
        assert written[path].strip(), f"{relative} is written empty"


@pytest.mark.parametrize("token", [None, "s3cr3t-from-dotenv"])
def test_one_alertmanager_token_reaches_both_sides(
    run_compose: RunCompose, token: str | None
) -> None:
    env = {"OPSBOT_ALERTMANAGER_TOKEN": token} if token else {}
    result = run_compose("config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    expected = token or DEV_ALERTMANAGER_TOKEN

    bot_side = resolved["services"]["opsbot"]["environment"]["OPSBOT_ALERTMANAGER_TOKEN"]
    read_from, _ = token_file_in_container(resolved)
    [mounted] = [
        c for c in resolved["services"]["alertmanager"]["configs"] if c["target"] == read_from
    ]
    alertmanager_side = resolved["configs"][mounted["source"]]["content"]
    assert bot_side == alertmanager_side == expected
    # What Alertmanager sends (type + file content, trimmed) is what the bot accepts.
    assert bearer_ok(f"Bearer {alertmanager_side.strip()}", bot_side)
    assert not bearer_ok(f"Bearer {alertmanager_side.strip()}x", bot_side)


# --------------------------------------------------------------------------------------------
# promtool / amtool


def test_promtool_check_config() -> None:
    out = check([tool("promtool"), "check", "config", str(PROMETHEUS_YML.relative_to(ROOT))])
    assert "2 rule files found" in out, out


def test_promtool_check_rules() -> None:
    check([tool("promtool"), "check", "rules", str(RULES_YML.relative_to(ROOT))])


def test_amtool_check_config() -> None:
    check([tool("amtool"), "check-config", str(ALERTMANAGER_YML.relative_to(ROOT))])


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    """promtool can fail here: a rule with a syntax error is refused."""
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES_YML.read_text().replace("> 0.05", "> > 0.05", 1))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0


def test_prometheus_scrapes_the_bot_and_alerts_alertmanager() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["opsbot"].get("metrics_path", "/metrics") == "/metrics"
    assert jobs["opsbot"]["static_configs"][0]["targets"] == ["opsbot:8080"]
    assert jobs["prometheus"]["static_configs"][0]["targets"] == ["localhost:9090"]
    [am] = config["alerting"]["alertmanagers"]
    assert am["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert config["rule_files"] == ["rules.yml", "opsbot-rules.yml"]


def test_every_alert_rule_has_service_and_severity() -> None:
    """Alertmanager groups by [alertname, service]; opsbot needs both on every alert."""
    rules = [
        rule
        for group in yaml.safe_load(RULES_YML.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert {r["alert"] for r in rules} >= {
        "ModelServingHighErrorRate",
        "ModelServingHighLatencyP95",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]
        has_service = "service" in rule["labels"] or "service" in rule["expr"]
        assert has_service, f"{rule['alert']} alerts carry no service label"
        assert rule["annotations"]["summary"], rule["alert"]


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def _rule_tests() -> dict[str, Any]:
    sick = {"service": "fraud-scorer", "model": "xgb-v7"}
    well = {"service": "churn", "model": "lgbm-v2"}
    requests, buckets = "model_requests_total", "model_request_duration_seconds_bucket"
    series = [
        # fraud-scorer: 540 ok + 60 failed requests a minute = 10% errors; p95 = 950 ms.
        _series(requests, "0+540x30", **sick, code="200"),
        _series(requests, "0+60x30", **sick, code="500"),
        _series(buckets, "0+300x30", **sick, le="0.5"),
        _series(buckets, "0+600x30", **sick, le="1"),
        _series(buckets, "0+600x30", **sick, le="+Inf"),
        # churn: 1% errors, and fast: no alert.
        _series(requests, "0+594x30", **well, code="200"),
        _series(requests, "0+6x30", **well, code="503"),
        _series(buckets, "0+600x30", **well, le="0.1"),
        _series(buckets, "0+600x30", **well, le="+Inf"),
    ]
    runbooks = "https://runbooks.example.com/ml-serving"
    error_rate = {
        "exp_labels": {**sick, "severity": "page", "team": "ml-platform"},
        "exp_annotations": {
            "summary": "fraud-scorer (xgb-v7): 10% of predictions fail",
            "description": (
                "More than 5% of inference requests to model xgb-v7 on fraud-scorer have "
                "returned 5xx for 5 minutes. Check the last model or deployment rollout first."
            ),
            "runbook_url": f"{runbooks}/high-error-rate",
        },
    }
    latency = {
        "exp_labels": {**sick, "severity": "warning", "team": "ml-platform"},
        "exp_annotations": {
            "summary": "fraud-scorer (xgb-v7): p95 latency 950ms",
            "description": (
                "The 95th percentile of inference latency for model xgb-v7 on fraud-scorer has "
                "been above 500 ms for 10 minutes (saturation, a larger model version, or a slow "
                "feature store)."
            ),
            "runbook_url": f"{runbooks}/high-latency",
        },
    }
    checks = [
        # Still pending: `for: 5m` and `for: 10m`.
        {"eval_time": "4m", "alertname": "ModelServingHighErrorRate", "exp_alerts": []},
        {"eval_time": "9m", "alertname": "ModelServingHighLatencyP95", "exp_alerts": []},
        # Firing, for the sick model only.
        {"eval_time": "20m", "alertname": "ModelServingHighErrorRate", "exp_alerts": [error_rate]},
        {"eval_time": "20m", "alertname": "ModelServingHighLatencyP95", "exp_alerts": [latency]},
    ]
    return {
        "rule_files": [str(RULES_YML)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}],
    }


def test_alert_rules_fire_on_synthetic_series(tmp_path: Path) -> None:
    """promtool test rules: the error-rate and p95 rules fire for a sick model and only for it."""
    tests = tmp_path / "rules_test.yml"
    tests.write_text(yaml.safe_dump(_rule_tests(), sort_keys=False))
    out = check([tool("promtool"), "test", "rules", str(tests)], cwd=tmp_path)
    assert "SUCCESS" in out, out


def test_rule_tests_can_fail(tmp_path: Path) -> None:
    """The same promtool test with a wrong expectation fails: the check above is not vacuous."""
    spec = _rule_tests()
    spec["tests"][0]["alert_rule_test"][0]["exp_alerts"] = spec["tests"][0]["alert_rule_test"][2][
        "exp_alerts"
    ]
    tests = tmp_path / "rules_test.yml"
    tests.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(tests)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, result.stdout
