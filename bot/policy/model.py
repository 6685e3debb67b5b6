"""The ``policy:`` section of the catalog file (``services.yaml``).

    policy:
      namespaces: [ml-serving, ml-batch]      # allowlist: actions elsewhere are refused
      approval_expiry_min: 15
      groups:                                 # named groups of Slack user IDs
        sre: [U0ALICE, U0BOB]
      rules:                                  # first rule that matches the action/playbook wins
        - actions: [rollback_deployment, scale_deployment, restart_deployment]
          playbooks: [rollback-model-deploy]
          namespaces: [ml-serving]            # empty: any allowed namespace
          run: ["@sre", U0CAROL, S0ONCALL]    # who may ask: user IDs, @group, Slack user groups
          approve: ["@sre"]                   # who may approve
          approval: required                  # required | none
          self_approve: false                 # may the requester approve their own run?
          environments: [production]          # where self_approve=false applies (default: all)
        - actions: [submit_ray_job]
          gpus: true                          # only requests that ask for GPUs (false: none)
          run: ["@ml-oncall"]
          approve: ["@sre"]
      console_users:                          # opsbot console: OS user -> Slack users
        alice: U0ALICE                        # alice acts as U0ALICE
        root: [U0OPS, U0ALICE]                # several: pick one with --as

Subjects: ``U…``/``W…`` Slack user IDs, ``@name`` a group above, ``S…`` a Slack user group
(resolved through Slack), ``*`` anyone. Any other word is matched as it is. A group lists user IDs
and Slack user groups, not other groups. ``console`` and ``console:<os user>`` are not subjects:
the console acts as the Slack user ``console_users`` maps its operating-system user to (see
``bot/chat/console_identity.py``), and as ``console:<os user>``, whom no rule may name, otherwise.

A rule names the actions and the playbooks it covers (``*``: all of that kind); an empty list
covers none of that kind, and a rule that covers nothing is refused. An empty ``run`` is a rule
that lets no one run what it covers (a deny rule: earlier rules win, so put it first). How the
rules are applied: ``bot/policy/check.py``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ANYONE = "*"
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SUBJECT = re.compile(r"^(\*|@[A-Za-z0-9][A-Za-z0-9_.-]*|[A-Za-z0-9][A-Za-z0-9_.:-]*)$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
OS_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")
CONSOLE = "console"  # the console's own actor is ``console:<os user>``: no rule may name it


def _check_subjects(values: list[str]) -> list[str]:
    for value in values:
        if not _SUBJECT.match(value):
            raise ValueError(
                f"{value!r} is not a subject: use a Slack user ID (U…/W…), @group, "
                "a Slack user group (S…) or *"
            )
        if value == CONSOLE or value.startswith(f"{CONSOLE}:"):
            raise ValueError(
                f"{value!r}: a rule cannot name the console; map the operating-system user to "
                "a Slack user under policy.console_users and name that Slack user"
            )
    return values


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: list[str] = Field(default_factory=list)
    playbooks: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    run: list[str] = Field(default_factory=list)
    approve: list[str] = Field(default_factory=list)
    approval: Literal["required", "none"] = "required"
    self_approve: bool = False
    environments: list[str] = Field(default_factory=list)
    # Ray jobs: True covers only requests that ask for GPUs, False only those that do not,
    # None (the default) both.
    gpus: bool | None = None

    @field_validator("run", "approve")
    @classmethod
    def _subjects(cls, values: list[str]) -> list[str]:
        return _check_subjects(values)

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        if not self.actions and not self.playbooks:
            raise ValueError(
                "a rule must name at least one action or playbook (`*` for all of a kind)"
            )
        if self.approval == "required" and self.run and not self.approve:
            raise ValueError(
                "`approval: required` but `approve` names no one: nobody could approve these "
                "runs (name approvers, or set `approval: none`)"
            )
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespaces: list[str] = Field(default_factory=list)
    approval_expiry_min: int = Field(15, ge=1, le=1440)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    # ``opsbot console``: the operating-system user -> the Slack users they may act as.
    console_users: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("console_users", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("console_users")
    @classmethod
    def _console_users(cls, users: dict[str, list[str]]) -> dict[str, list[str]]:
        for os_user, slack_ids in users.items():
            if not OS_USER.match(os_user):
                raise ValueError(f"console_users: {os_user!r} is not an operating-system user name")
            if not slack_ids:
                raise ValueError(f"console_users.{os_user}: name the Slack user(s) it acts as")
            for slack_id in slack_ids:
                if not SLACK_USER.match(slack_id):
                    raise ValueError(
                        f"console_users.{os_user}: {slack_id!r} is not a Slack user ID (U…/W…); "
                        "a console user acts as one person, not a group"
                    )
        return users

    def console_slack_users(self, os_user: str) -> list[str]:
        """The Slack users the operating-system user ``os_user`` may act as at the console."""
        return list(self.console_users.get(os_user, []))

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, members in groups.items():
            if not GROUP_NAME.match(name):
                raise ValueError(f"group name {name!r}: use letters, digits, `_`, `.`, `-`")
            _check_subjects(members)
            for member in members:
                if member.startswith("@") or member == ANYONE:
                    raise ValueError(
                        f"group {name!r} lists {member!r}: a group lists Slack user IDs and "
                        "Slack user groups (S…), not other groups or `*`"
                    )
        return groups

    @model_validator(mode="after")
    def _references(self) -> Policy:
        known = ", ".join(sorted(self.groups)) or "none"
        for i, rule in enumerate(self.rules):
            for key in ("run", "approve"):
                for subject in getattr(rule, key):
                    if subject.startswith("@") and subject[1:] not in self.groups:
                        raise ValueError(
                            f"rules[{i}].{key}: {subject} is not a group in policy.groups "
                            f"(defined: {known})"
                        )
            if self.namespaces:
                outside = [ns for ns in rule.namespaces if ns not in self.namespaces]
                if outside:
                    raise ValueError(
                        f"rules[{i}].namespaces: {', '.join(outside)} not in the namespace "
                        f"allowlist ({', '.join(self.namespaces)}): it could never apply there"
                    )
        return self
