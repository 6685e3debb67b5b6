"""slack-app-manifest.yml: one endpoint for everything, and exactly the minimal bot scopes."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.chat.commands import COMMANDS

MANIFEST = Path(__file__).resolve().parents[2] / "slack-app-manifest.yml"
SLACK_PATH = "/slack/events"

# The minimal set, one reason each. Anything else is a finding in a security review.
BOT_SCOPES = {
    "chat:write",  # post incident threads, edit the root message
    "commands",  # /ops
    "channels:history",  # read back its own messages (delivery reconciliation), public channels
    "groups:history",  # the same, private channels
    "app_mentions:read",  # @opsbot
    "reactions:read",  # reaction_added
    "files:write",  # metric charts
    "usergroups:read",  # Slack user groups named in the approval policy
}
# Each subscribed event and the scope it needs (None: none; Slack's event reference says so).
BOT_EVENTS = {
    "app_home_opened": None,
    "app_mention": "app_mentions:read",
    "reaction_added": "reactions:read",
}


@pytest.fixture
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def scope_problems(manifest: dict[str, Any]) -> list[str]:
    scopes = manifest.get("oauth_config", {}).get("scopes", {})
    bot = scopes.get("bot", [])
    problems = []
    if len(bot) != len(set(bot)):
        problems.append(f"duplicate bot scopes: {bot}")
    if extra := set(bot) - BOT_SCOPES:
        problems.append(f"scopes beyond the minimal set: {sorted(extra)}")
    if missing := BOT_SCOPES - set(bot):
        problems.append(f"missing scopes: {sorted(missing)}")
    if set(scopes) - {"bot"}:
        problems.append(f"token types other than bot: {sorted(set(scopes) - {'bot'})}")
    return problems


def _is_slack_endpoint(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path == SLACK_PATH


def test_metadata_and_display(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    info = manifest["display_information"]
    # Slack's limits: name up to 35 characters, description up to 140,
    # long_description 175 to 4000, background_color as #rrggbb.
    assert 0 < len(info["name"]) <= 35
    assert 0 < len(info["description"]) <= 140
    if "long_description" in info:
        assert 175 <= len(info["long_description"]) <= 4000
    if "background_color" in info:
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    bot_user = manifest["features"]["bot_user"]
    assert bot_user["always_online"] is True
    assert 0 < len(bot_user["display_name"]) <= 80


def test_ops_slash_command(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/ops"
    assert _is_slack_endpoint(command["url"]), command["url"]
    assert command["url"] == "https://opsbot.example.com/slack/events"
    assert 0 < len(command["description"]) <= 2000
    assert command["usage_hint"].strip()
    # Every command the hint offers exists in the bot's grammar.
    offered = {alt.split()[0] for alt in command["usage_hint"].split(" | ")}
    assert offered <= set(COMMANDS), offered - set(COMMANDS)


def test_the_declare_shortcut_is_the_one_the_bot_listens_to(manifest: dict[str, Any]) -> None:
    from bot.chat.slack.declare import SHORTCUT

    [shortcut] = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", SHORTCUT)
    # Slack's limits: name up to 24 characters, description up to 150.
    assert 0 < len(shortcut["name"]) <= 24
    assert 0 < len(shortcut["description"]) <= 150


def test_events_and_interactivity_go_to_the_same_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    events = settings["event_subscriptions"]
    interactivity = settings["interactivity"]
    assert _is_slack_endpoint(events["request_url"])
    assert interactivity["is_enabled"] is True
    assert _is_slack_endpoint(interactivity["request_url"])
    [command] = manifest["features"]["slash_commands"]
    assert events["request_url"] == interactivity["request_url"] == command["url"]
    assert set(events["bot_events"]) == set(BOT_EVENTS)
    assert "user_events" not in events
    assert settings["org_deploy_enabled"] is False
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_scopes_are_exactly_the_minimal_set(manifest: dict[str, Any]) -> None:
    assert scope_problems(manifest) == []
    # Every subscribed event is covered by a granted scope.
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        needs = BOT_EVENTS[event]
        assert needs is None or needs in granted, event


def test_the_home_tab_is_on_and_app_home_opened_is_subscribed(
    manifest: dict[str, Any],
) -> None:
    assert manifest["features"]["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": False,
    }
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m["oauth_config"]["scopes"]["bot"].append("channels:read"), "beyond"),
        (lambda m: m["oauth_config"]["scopes"]["bot"].append("chat:write.public"), "beyond"),
        (lambda m: m["oauth_config"]["scopes"]["bot"].remove("files:write"), "missing"),
        (lambda m: m["oauth_config"]["scopes"]["bot"].append("chat:write"), "duplicate"),
        (lambda m: m["oauth_config"]["scopes"].update(user=["search:read"]), "other than bot"),
    ],
)
def test_scope_check_catches_a_sneaked_in_scope(
    manifest: dict[str, Any], change: Any, problem: str
) -> None:
    changed = copy.deepcopy(manifest)
    change(changed)
    assert any(problem in p for p in scope_problems(changed)), scope_problems(changed)
