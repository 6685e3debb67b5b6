"""Policy: who may run and approve what, where; the first covering rule decides; default deny."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import Target
from bot.catalog.load import parse_catalog
from bot.errors import ConfigError
from bot.policy.check import (
    Decision,
    approval_expiry,
    find_rule,
    matches,
    may_approve,
    may_run,
)
from bot.policy.model import Policy

SERVING = Target("ml-serving", "deployment/fraud-scorer", "production")
STAGING = Target("ml-serving", "deployment/fraud-scorer", "staging")
BATCH = Target("ml-batch", "cronjob/features", "production")
PAGERDUTY = Target(None, "pagerduty/PABC123")

SLACK_GROUPS = {"S0ONCALL": frozenset({"U0DAVE"}), "S0EMPTY": frozenset()}


def resolve(group: str) -> frozenset[str]:
    return SLACK_GROUPS[group]


def policy(**overrides: Any) -> Policy:
    doc: dict[str, Any] = {
        "namespaces": ["ml-serving", "ml-batch"],
        "approval_expiry_min": 20,
        "groups": {"sre": ["U0ALICE", "U0BOB"], "ml": ["U0ERIN", "S0ONCALL"]},
        "rules": [
            {
                "actions": ["rollback_deployment", "scale_deployment"],
                "playbooks": ["rollback-model-deploy"],
                "namespaces": ["ml-serving"],
                "run": ["@sre", "U0CAROL", "S0ONCALL"],
                "approve": ["@sre"],
                "environments": ["production"],
            },
            {
                "actions": ["rerun_pipeline"],
                "run": ["@ml"],
                "approval": "none",
            },
            {
                "actions": ["*"],
                "playbooks": ["*"],
                "run": ["@sre"],
                "approve": ["@sre"],
                "self_approve": True,
            },
        ],
    }
    doc.update(overrides)
    return Policy.model_validate(doc)


# ─── may_run ────────────────────────────────────────────────────────────────────────────────────


def test_a_listed_user_may_run_with_approval_by_the_named_approvers() -> None:
    d = may_run(policy(), "U0CAROL", action="rollback_deployment", target=SERVING)
    assert d == Decision(
        allowed=True,
        reason="U0CAROL may run rollback_deployment in ml-serving, once approved by @sre",
        approval_required=True,
        approvers=("@sre",),
    )


def test_a_group_member_may_run() -> None:
    assert may_run(policy(), "U0BOB", action="scale_deployment", target=SERVING).allowed


def test_someone_else_is_refused_with_who_is_allowed() -> None:
    d = may_run(
        policy(), "U0MALLORY", action="rollback_deployment", target=SERVING, resolve=resolve
    )
    assert not d.allowed
    assert d.reason == (
        "U0MALLORY may not run rollback_deployment in ml-serving: "
        "allowed are @sre, U0CAROL, S0ONCALL"
    )


def test_a_slack_user_group_is_resolved_only_when_needed() -> None:
    asked: list[str] = []

    def counting(group: str) -> frozenset[str]:
        asked.append(group)
        return resolve(group)

    assert may_run(
        policy(), "U0DAVE", action="rollback_deployment", target=SERVING, resolve=counting
    ).allowed
    assert asked == ["S0ONCALL"]
    asked.clear()
    assert may_run(
        policy(), "U0ALICE", action="rollback_deployment", target=SERVING, resolve=counting
    ).allowed
    assert asked == []  # a direct member: no call to Slack


def test_a_slack_user_group_inside_a_policy_group_is_resolved() -> None:
    d = may_run(policy(), "U0DAVE", action="rerun_pipeline", target=BATCH, resolve=resolve)
    assert d.allowed
    assert not d.approval_required
    assert d.reason == "U0DAVE may run rerun_pipeline in ml-batch, no approval needed"


def test_without_a_resolver_a_slack_user_group_matches_no_one_and_says_so() -> None:
    d = may_run(policy(), "U0DAVE", action="rollback_deployment", target=SERVING)
    assert not d.allowed
    assert d.reason.endswith("(Slack user group S0ONCALL could not be checked)")


def test_a_namespace_outside_the_allowlist_is_refused_first() -> None:
    target = Target("kube-system", "deployment/coredns")
    d = may_run(policy(), "U0ALICE", action="rollback_deployment", target=target)
    assert not d.allowed
    assert d.reason.startswith("namespace kube-system is not in the allowlist")
    # even a read-only action
    assert not may_run(
        policy(), "U0ALICE", action="check_metric", target=target, writes=False
    ).allowed


def test_an_empty_allowlist_allows_every_namespace() -> None:
    d = may_run(
        policy(namespaces=[]),
        "U0ALICE",
        action="restart_deployment",
        target=Target("kube-system", "deployment/x"),
    )
    assert d.allowed


def test_the_first_covering_rule_wins_and_later_ones_are_not_tried() -> None:
    p = policy(
        rules=[
            {"actions": ["scale_deployment"], "run": ["@sre"], "approval": "none"},
            {"actions": ["scale_deployment"], "run": ["*"], "approve": ["@sre"]},
        ]
    )
    d = may_run(p, "U0MALLORY", action="scale_deployment", target=SERVING)
    assert d.reason == "U0MALLORY may not run scale_deployment in ml-serving: allowed are @sre"
    d = may_run(p, "U0ALICE", action="scale_deployment", target=SERVING)
    assert d.allowed
    assert not d.approval_required  # rule 1's `approval: none`, not rule 2's


def test_a_rule_applies_only_in_its_namespaces() -> None:
    # rule 1 (U0CAROL among its runners) covers rollback in ml-serving only
    p = policy()
    assert may_run(p, "U0CAROL", action="rollback_deployment", target=SERVING).allowed
    assert find_rule(p, action="rollback_deployment", target=SERVING) is p.rules[0]
    # in ml-batch rule 1 does not apply (its namespaces), so rule 3 decides: U0CAROL is refused
    d = may_run(p, "U0CAROL", action="rollback_deployment", target=BATCH)
    assert not d.allowed
    assert d.reason == "U0CAROL may not run rollback_deployment in ml-batch: allowed are @sre"


def test_an_earlier_deny_rule_wins_over_a_later_allow() -> None:
    p = policy(
        rules=[
            {"actions": ["delete_model"], "run": []},
            {"actions": ["*"], "run": ["*"], "approve": ["@sre"]},
        ]
    )
    d = may_run(p, "U0ALICE", action="delete_model", target=SERVING)
    assert not d.allowed
    assert d.reason == "U0ALICE may not run delete_model in ml-serving: the policy allows no one"
    assert may_run(p, "U0ALICE", action="scale_deployment", target=SERVING).allowed


def test_a_star_in_run_allows_anyone() -> None:
    p = policy(rules=[{"actions": ["post_message"], "run": ["*"], "approval": "none"}])
    assert may_run(p, "U0ANYONE", action="post_message", target=PAGERDUTY).allowed


def test_nothing_covers_it_so_it_is_refused() -> None:
    p = policy(rules=[{"actions": ["scale_deployment"], "run": ["*"], "approve": ["@sre"]}])
    d = may_run(p, "U0ALICE", action="rollback_deployment", target=SERVING)
    assert not d.allowed
    assert d.reason.startswith("no policy rule allows rollback_deployment in ml-serving")
    assert not may_run(Policy(), "U0ALICE", action="scale_deployment", target=SERVING).allowed


def test_an_action_list_does_not_cover_playbooks_and_vice_versa() -> None:
    p = policy(
        rules=[
            {"actions": ["rollback_deployment"], "run": ["*"], "approve": ["@sre"]},
            {"playbooks": ["rollback-model-deploy"], "run": ["@sre"], "approve": ["@sre"]},
        ]
    )
    assert find_rule(p, playbook="rollback_deployment", target=SERVING) is None
    assert find_rule(p, action="rollback-model-deploy", target=SERVING) is None
    d = may_run(p, "U0CAROL", playbook="rollback-model-deploy", target=SERVING)
    assert d.reason == (
        "U0CAROL may not run playbook rollback-model-deploy in ml-serving: allowed are @sre"
    )


def test_a_namespace_restricted_rule_does_not_cover_a_target_without_namespace() -> None:
    p = policy(
        rules=[
            {"actions": ["*"], "namespaces": ["ml-batch"], "run": ["*"], "approval": "none"},
            {"actions": ["*"], "run": ["@sre"], "approve": ["@sre"]},
        ]
    )
    assert find_rule(p, action="page_oncall", target=PAGERDUTY) is p.rules[1]
    assert find_rule(p, playbook="x", target=None) is None
    d = may_run(p, "U0MALLORY", action="page_oncall", target=PAGERDUTY)
    assert d.reason == "U0MALLORY may not run page_oncall: allowed are @sre"


def test_read_only_actions_are_open_unless_a_rule_names_them() -> None:
    p = policy()
    d = may_run(p, "U0ANYONE", action="check_metric", target=SERVING, writes=False)
    assert d == Decision(True, "check_metric only reads: anyone may run it")
    # the `*` rule does not restrict reads; a rule naming the action does
    p = policy(
        rules=[
            {"actions": ["read_logs"], "run": ["@sre"], "approval": "none"},
            *policy().model_dump()["rules"],
        ]
    )
    refused = may_run(p, "U0ANYONE", action="read_logs", target=SERVING, writes=False)
    assert not refused.allowed
    assert refused.reason == "U0ANYONE may not run read_logs in ml-serving: allowed are @sre"
    assert may_run(p, "U0BOB", action="read_logs", target=SERVING, writes=False).allowed


def test_one_of_action_and_playbook_must_be_named() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        may_run(policy(), "U0ALICE", target=SERVING)
    with pytest.raises(ValueError, match="exactly one"):
        may_run(policy(), "U0ALICE", action="a", playbook="b", target=SERVING)


# ─── may_approve ────────────────────────────────────────────────────────────────────────────────


def test_an_approver_from_the_rule_may_approve_someone_elses_run() -> None:
    d = may_approve(
        policy(), "U0BOB", requester="U0CAROL", action="rollback_deployment", target=SERVING
    )
    assert d == Decision(
        True, "U0BOB may approve rollback_deployment in ml-serving", approvers=("@sre",)
    )


def test_someone_outside_approve_may_not_approve() -> None:
    d = may_approve(
        policy(), "U0CAROL", requester="U0ALICE", action="rollback_deployment", target=SERVING
    )
    assert not d.allowed
    assert (
        d.reason == "U0CAROL may not approve rollback_deployment in ml-serving: approvers are @sre"
    )


def test_self_approval_is_refused_in_production() -> None:
    d = may_approve(
        policy(), "U0ALICE", requester="U0ALICE", action="rollback_deployment", target=SERVING
    )
    assert not d.allowed
    assert (
        d.reason == "you asked for this run; someone else from @sre must approve it in production"
    )


def test_self_approval_is_allowed_outside_the_guarded_environments() -> None:
    d = may_approve(
        policy(), "U0ALICE", requester="U0ALICE", action="rollback_deployment", target=STAGING
    )
    assert d.allowed


def test_without_environments_self_approval_is_refused_everywhere() -> None:
    p = policy(rules=[{"actions": ["*"], "run": ["@sre"], "approve": ["@sre", "U0CAROL"]}])
    d = may_approve(p, "U0BOB", requester="U0BOB", action="scale_deployment", target=STAGING)
    assert d.reason == (
        "you asked for this run; someone else from @sre or U0CAROL must approve it in staging"
    )


def test_self_approve_true_lets_the_requester_approve() -> None:
    # rule 3 of the default policy: self_approve: true
    assert may_approve(
        policy(), "U0BOB", requester="U0BOB", action="restart_deployment", target=BATCH
    ).allowed


def test_approvers_through_a_slack_user_group() -> None:
    p = policy(rules=[{"actions": ["*"], "run": ["*"], "approve": ["S0ONCALL"]}])
    assert may_approve(
        p, "U0DAVE", requester="U0ALICE", action="scale_deployment", target=SERVING, resolve=resolve
    ).allowed
    d = may_approve(
        p, "U0ALICE", requester="U0BOB", action="scale_deployment", target=SERVING, resolve=resolve
    )
    assert not d.allowed


def test_approval_is_checked_against_the_same_rule_and_allowlist() -> None:
    p = policy()
    # ml-batch: rule 1 does not apply, so rule 3 (self_approve: true) decides
    assert may_approve(
        p, "U0ALICE", requester="U0ALICE", action="rollback_deployment", target=BATCH
    ).allowed
    d = may_approve(
        p,
        "U0ALICE",
        requester="U0BOB",
        action="rollback_deployment",
        target=Target("default", "deployment/x"),
    )
    assert d.reason.startswith("namespace default is not in the allowlist")
    d = may_approve(
        Policy(), "U0ALICE", requester="U0BOB", action="scale_deployment", target=SERVING
    )
    assert (
        d.reason == "no policy rule covers scale_deployment in ml-serving, so no one may approve it"
    )


def test_a_rule_without_approvers_lets_no_one_approve() -> None:
    d = may_approve(policy(), "U0ERIN", requester="U0DAVE", action="rerun_pipeline", target=BATCH)
    assert d.reason == "U0ERIN may not approve rerun_pipeline in ml-batch: it names no approvers"


# ─── helpers and the schema ─────────────────────────────────────────────────────────────────────


def test_approval_expiry_comes_from_the_policy() -> None:
    assert approval_expiry(policy()) == timedelta(minutes=20)
    assert approval_expiry(Policy()) == timedelta(minutes=15)


def test_matches_knows_every_kind_of_subject() -> None:
    p = policy()
    assert matches(p, "U0ANYONE", ["*"])
    assert matches(p, "console", ["console"])
    assert matches(p, "U0ALICE", ["@sre"])
    assert matches(p, "U0DAVE", ["@ml"], resolve)
    assert not matches(p, "U0DAVE", ["S0EMPTY"], resolve)
    assert not matches(p, "U0ALICE", [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"rules": [{"actions": ["x"], "run": ["@sres"], "approve": ["@sre"]}]},
            "@sres is not a group in policy.groups (defined: ml, sre)",
        ),
        (
            {"rules": [{"actions": ["x"], "run": ["@sre"], "approve": ["@nobody"]}]},
            "rules[0].approve: @nobody is not a group",
        ),
        (
            {"rules": [{"run": ["@sre"], "approve": ["@sre"]}]},
            "must name at least one action or playbook",
        ),
        ({"rules": [{"actions": ["x"], "run": ["@sre"]}]}, "`approve` names no one"),
        (
            {
                "rules": [
                    {"actions": ["x"], "namespaces": ["prod"], "run": ["*"], "approval": "none"}
                ]
            },
            "rules[0].namespaces: prod not in the namespace allowlist",
        ),
        ({"groups": {"sre": ["@ml"], "ml": []}}, "not other groups"),
        (
            {"rules": [{"actions": ["x"], "run": ["U0 ALICE"], "approval": "none"}]},
            "is not a subject",
        ),
        (
            {"rules": [{"actions": ["x"], "run": ["*"], "approval": "sometimes"}]},
            "'required' or 'none'",
        ),
    ],
)
def test_the_schema_refuses_policies_that_cannot_work(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        policy(**change)
    assert message in str(info.value)


def test_policy_errors_in_the_catalog_file_name_the_file() -> None:
    text = (
        "policy:\n"
        "  groups: {ops: [U0ALICE]}\n"
        "  rules:\n"
        "    - actions: [rollback_deployment]\n"
        "      run: ['@sre']\n"
        "      approve: ['@sre']\n"
    )
    with pytest.raises(ConfigError, match=r"services.yaml:\d+: policy: .*@sre is not a group"):
        parse_catalog(text)
    ok = parse_catalog(text.replace("ops:", "sre:"))
    assert ok.policy.rules[0].run == ["@sre"]
