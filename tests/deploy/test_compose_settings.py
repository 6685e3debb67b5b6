"""Every setting opsbot reads reaches the bot in docker-compose.yml, and Kubernetes comes only with
deploy/compose/kubernetes.yaml (a read-only kubeconfig mount).

The names come from the pydantic-settings model in bot/config.py, so a new setting that compose
does not pass fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices

from bot.config import Settings
from tests.deploy.helpers import KUBERNETES_OVERRIDE, RunCompose, host_path

# Settings that make no sense in compose.
NOT_PASSED = {
    # Ports of the local Ray head opsbot starts itself when RAY_ADDRESS is unset; compose always
    # sets RAY_ADDRESS (the ray-head service).
    "OPSBOT_RAY_LOCAL_DASHBOARD_PORT",
    "OPSBOT_RAY_LOCAL_GCS_PORT",
}
# Read inside the bot by a vendor SDK, not by Settings: Ray's job client sends the token.
PASSED_FOR_SDKS = {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}


def setting_env_names() -> set[str]:
    """The environment variables Settings reads: each field's aliases, or its name."""
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add(field_name.upper())
        elif isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            for choice in alias.choices:
                assert isinstance(choice, str), f"{field_name}: alias path {choice!r}"
                names.add(choice.upper())
        else:
            pytest.fail(f"{field_name}: unexpected alias {alias!r}")
    return names


def opsbot_service(run_compose: RunCompose, *overrides: Path, **env: str) -> dict[str, Any]:
    result = run_compose("config", "--format", "json", overrides=overrides, env=env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["services"]["opsbot"])


def test_settings_model_is_read_by_name() -> None:
    """The derivation below sees what opsbot reads (not vacuously empty)."""
    names = setting_env_names()
    assert {"OPSBOT_DATABASE_URL", "SLACK_BOT_TOKEN", "KUBECONFIG", "RAY_ADDRESS"} <= names
    assert names >= NOT_PASSED, "an exclusion names a setting that no longer exists"


def test_every_setting_is_passed_to_the_bot(run_compose: RunCompose, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text("")
    bot = opsbot_service(run_compose, KUBERNETES_OVERRIDE, OPSBOT_HOST_KUBECONFIG=str(kubeconfig))
    passed = set(bot["environment"])
    expected = setting_env_names() - NOT_PASSED
    assert sorted(expected - passed) == [], "settings docker-compose.yml does not pass"
    # And nothing opsbot does not read (a typo such as OPSBOT_PAGERDUTY_FORM).
    assert sorted(passed - expected - PASSED_FOR_SDKS) == [], "unknown variables passed"


def test_kubernetes_is_off_without_the_override(model: dict[str, Any]) -> None:
    bot = model["services"]["opsbot"]
    # KUBECONFIG naming a missing or empty file would stop the bot; unset means "no cluster".
    assert "KUBECONFIG" not in bot["environment"]
    assert "KUBERNETES_SERVICE_HOST" not in bot["environment"]
    assert all("kube" not in str(v["target"]) for v in bot["volumes"])


def test_kubernetes_override_mounts_the_kubeconfig_read_only(
    run_compose: RunCompose, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "opsbot-kubeconfig.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    bot = opsbot_service(run_compose, KUBERNETES_OVERRIDE, OPSBOT_HOST_KUBECONFIG=str(kubeconfig))
    in_container = bot["environment"]["KUBECONFIG"]
    assert host_path(bot, in_container) == kubeconfig
    [mount] = [v for v in bot["volumes"] if v["target"] == in_container]
    assert mount["read_only"] is True
    # The catalog and playbook mounts stay.
    assert {"/etc/opsbot/services.yaml", "/etc/opsbot/playbooks"} <= {
        str(v["target"]) for v in bot["volumes"]
    }


def test_kubernetes_override_without_a_kubeconfig_is_refused(run_compose: RunCompose) -> None:
    result = run_compose("config", "-q", overrides=(KUBERNETES_OVERRIDE,))
    assert result.returncode != 0, "the override ran with no kubeconfig named"
    assert "required variable OPSBOT_HOST_KUBECONFIG is missing a value" in result.stderr
