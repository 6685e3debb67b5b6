"""The catalog and playbooks docker-compose.yml mounts are the ones the bot reads, and they load.

`opsbot serve` refuses to start when a named OPSBOT_SERVICES_FILE is missing or a playbook does not
validate, so each path the bot is given is followed through its bind mount back to the checkout,
then checked with opsbot's own loaders: the catalog loader, the check serve runs at start, and
`opsbot playbooks validate`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.load import load_catalog
from bot.cli import refuse_missing_parts
from bot.config import Settings
from bot.errors import ConfigError
from tests.deploy.helpers import ROOT, RunCompose, host_path


def mounted_paths(bot: dict[str, Any]) -> tuple[Path, Path]:
    """(catalog file, playbook directory) on the host, as the bot in the container sees them."""
    env = bot["environment"]
    for name in ("OPSBOT_SERVICES_FILE", "OPSBOT_PLAYBOOKS_DIR"):
        [mount] = [v for v in bot["volumes"] if host_path(bot, env[name]) == Path(v["source"])]
        assert mount["read_only"] is True, f"{name}: mounted writable"
    services_file = host_path(bot, env["OPSBOT_SERVICES_FILE"])
    playbooks_dir = host_path(bot, env["OPSBOT_PLAYBOOKS_DIR"])
    return services_file, playbooks_dir


def test_bot_reads_the_example_catalog_and_the_playbooks(model: dict[str, Any]) -> None:
    services_file, playbooks_dir = mounted_paths(model["services"]["opsbot"])
    assert services_file == ROOT / "examples" / "services.yaml"
    assert playbooks_dir == ROOT / "playbooks"


def test_mounted_catalog_loads(model: dict[str, Any]) -> None:
    services_file, _ = mounted_paths(model["services"]["opsbot"])
    assert services_file.is_file()  # load_catalog reads a missing file as an empty catalog
    catalog = load_catalog(services_file)
    assert catalog.services, "the mounted catalog has no services: every action is refused"
    assert catalog.policy.rules, "the mounted catalog has no policy: every action is refused"


def test_mounted_playbooks_validate_with_the_cli(model: dict[str, Any]) -> None:
    _, playbooks_dir = mounted_paths(model["services"]["opsbot"])
    result = subprocess.run(
        [sys.executable, "-m", "bot", "playbooks", "validate", str(playbooks_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ", 0 problem(s)" in result.stdout
    assert not result.stdout.startswith("0 playbook(s)"), result.stdout


def test_serve_start_check_accepts_the_mounted_paths(model: dict[str, Any]) -> None:
    services_file, playbooks_dir = mounted_paths(model["services"]["opsbot"])
    refuse_missing_parts(Settings(services_file=services_file, playbooks_dir=playbooks_dir))


def test_own_catalog_and_playbooks_replace_the_examples(
    run_compose: RunCompose, tmp_path: Path
) -> None:
    """OPSBOT_HOST_* swap the mounts, and the start check then sees a broken playbook."""
    own_catalog = tmp_path / "services.yaml"
    own_catalog.write_text("services:\n  api: {owner: team-api}\n")
    own_playbooks = tmp_path / "playbooks"
    own_playbooks.mkdir()
    (own_playbooks / "broken.yaml").write_text("apiVersion: opsbot/v1\nname: broken\n")
    result = run_compose(
        "config",
        "--format",
        "json",
        env={
            "OPSBOT_HOST_SERVICES_FILE": str(own_catalog),
            "OPSBOT_HOST_PLAYBOOKS_DIR": str(own_playbooks),
        },
    )
    assert result.returncode == 0, result.stderr
    services_file, playbooks_dir = mounted_paths(json.loads(result.stdout)["services"]["opsbot"])
    assert (services_file, playbooks_dir) == (own_catalog, own_playbooks)
    assert set(load_catalog(services_file).services) == {"api"}
    with pytest.raises(ConfigError, match="a playbook does not validate"):
        refuse_missing_parts(Settings(services_file=services_file, playbooks_dir=playbooks_dir))
