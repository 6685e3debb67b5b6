"""Every setting opsbot reads (bot/config.py) has exactly one place in the chart: a secret comes
only from ``existingSecret.keys``, anything else is a checked ``env`` field or set by the chart."""

from __future__ import annotations

import json

from pydantic import AliasChoices, SecretStr

from bot.config import Settings
from tests.deploy.helm_tools import CHART

# KUBECONFIG stays unset: in a pod the client uses the service account (in-cluster).
SET_BY_CHART = {"OPSBOT_PLAYBOOKS_DIR", "OPSBOT_SERVICES_FILE", "KUBECONFIG"}
SECRET_BUT_NOT_A_SETTING = {"RAY_AUTH_TOKEN"}  # read by Ray's own job client


def settings_env() -> dict[str, bool]:
    """Each environment variable of Settings -> whether it is a secret."""
    names: dict[str, bool] = {}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        secret = SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
        for name in alias.choices:
            names[str(name)] = secret
    return names


def schema() -> dict[str, object]:
    loaded: dict[str, object] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def test_every_secret_setting_is_a_key_of_the_existing_secret_and_never_env() -> None:
    props = schema()["properties"]
    assert isinstance(props, dict)
    secret_keys = set(props["existingSecret"]["properties"]["keys"]["properties"])
    env_fields = set(props["env"]["properties"])
    secrets = {n for n, secret in settings_env().items() if secret} | {"OPSBOT_DATABASE_URL"}
    assert secret_keys == secrets | SECRET_BUT_NOT_A_SETTING
    assert not env_fields & secret_keys


def test_every_other_setting_is_an_env_field_or_set_by_the_chart() -> None:
    props = schema()["properties"]
    assert isinstance(props, dict)
    env_fields = set(props["env"]["properties"])
    plain = {n for n, secret in settings_env().items() if not secret} - {"OPSBOT_DATABASE_URL"}
    assert plain - SET_BY_CHART <= env_fields
    assert not SET_BY_CHART & env_fields
    unknown = env_fields - plain - {"RAY_AUTH_MODE"}  # RAY_AUTH_MODE: bot/jobs/local_head.py
    assert unknown == set()
