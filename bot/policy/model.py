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

Subjects: ``U…``/``W…`` Slack user IDs, ``@name`` a group above, ``S…`` a Slack user group
(resolved through Slack), ``*`` anyone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespaces: list[str] = Field(default_factory=list)
    approval_expiry_min: int = Field(15, ge=1, le=1440)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
