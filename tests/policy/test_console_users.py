"""policy.console_users: which operating-system users may act as which Slack users at the
console; and no rule may name the console itself."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from bot.policy.model import Policy


def test_an_os_user_maps_to_one_slack_user_or_several() -> None:
    policy = Policy.model_validate(
        {"console_users": {"alice": "U0ALICE", "root": ["U0OPS", "W0X"]}}
    )
    assert policy.console_slack_users("alice") == ["U0ALICE"]
    assert policy.console_slack_users("root") == ["U0OPS", "W0X"]
    assert policy.console_slack_users("mallory") == []


@pytest.mark.parametrize(
    ("console_users", "error"),
    [
        ({"alice": "@sre"}, "'@sre' is not a Slack user ID"),
        ({"alice": "S0ONCALL"}, "'S0ONCALL' is not a Slack user ID"),
        ({"alice": "*"}, "'*' is not a Slack user ID"),
        ({"alice": []}, "console_users.alice: name the Slack user(s)"),
        ({"bad name": "U0ALICE"}, "'bad name' is not an operating-system user name"),
    ],
)
def test_a_console_user_acts_as_people_only(console_users: object, error: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(error)):
        Policy.model_validate({"console_users": console_users})


@pytest.mark.parametrize("subject", ["console", "console:alice"])
def test_no_rule_may_name_the_console(subject: str) -> None:
    with pytest.raises(ValidationError, match="a rule cannot name the console"):
        Policy.model_validate(
            {"rules": [{"actions": ["post_message"], "run": [subject], "approval": "none"}]}
        )


def test_an_unknown_policy_key_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="console_user"):
        Policy.model_validate({"console_user": {"alice": "U0ALICE"}})
