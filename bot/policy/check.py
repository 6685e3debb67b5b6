"""Who may run and who may approve: pure functions over the policy (``bot/policy/model.py``).

How a request is decided (``may_run``):

1. Namespace allowlist: a target in a namespace outside ``policy.namespaces`` is refused (when
   the list is non-empty). A target without a namespace (PagerDuty, Airflow) is not checked here.
2. The FIRST rule that covers the request decides. A rule covers an action when the action is in
   its ``actions`` (or ``actions`` holds ``*``), a playbook when it is in its ``playbooks`` (or
   ``*``); an empty list covers nothing of that kind. A rule with ``namespaces`` covers only
   targets in one of them, so never a target without a namespace.
   A rule with ``gpus: true`` covers only targets that ask for GPUs (a Ray job), ``false``
   only those that do not.
3. No rule covers it: refused (default deny), except read-only actions (``writes=False``) and
   the incident's own bookkeeping open to everyone (``open_to_all``: declare, severity, lead):
   anyone may run those unless a rule names the action explicitly (a ``*`` does not restrict
   them); such a rule then decides as for any action.
4. The actor must match the rule's ``run``; ``approval_required`` comes from its ``approval``.

``may_approve`` finds the same rule, then the approver must match its ``approve``; the requester
may approve their own run only with ``self_approve: true``, or outside the rule's
``environments`` when it lists some.

Subjects: ``*`` anyone, ``@name`` a group of ``policy.groups``, ``S…`` a Slack user group (asked
of the injected ``resolve``; without one it matches no one, and the refusal says so), anything else
an exact actor ID. Nothing here does I/O beyond ``resolve``, called only when nothing else matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from actions.base import Target
from bot.policy.model import ANYONE, Policy, Rule

GroupResolver = Callable[[str], frozenset[str]]
"""A Slack user group ID (``S…``) -> the user IDs in it (the Slack wiring provides one)."""

_USER_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # a sentence for the person who asked (the ephemeral refusal)
    approval_required: bool = False
    approvers: tuple[str, ...] = ()  # who may approve, as the policy writes them


def is_user_group(subject: str) -> bool:
    return bool(_USER_GROUP.match(subject))


def matches(
    policy: Policy, actor: str, subjects: Sequence[str], resolve: GroupResolver | None = None
) -> bool:
    """Is ``actor`` one of ``subjects`` (``*``, IDs, ``@groups``, Slack user groups)?"""
    return _match(policy, actor, subjects, resolve)[0]


def _match(
    policy: Policy, actor: str, subjects: Sequence[str], resolve: GroupResolver | None
) -> tuple[bool, tuple[str, ...]]:
    """(matched, Slack user groups that could not be asked for want of a resolver)."""
    expanded: list[str] = []
    for subject in subjects:
        if subject.startswith("@"):
            expanded.extend(policy.groups.get(subject[1:], []))
        else:
            expanded.append(subject)
    if ANYONE in expanded or actor in expanded:
        return True, ()
    unresolved: list[str] = []
    for subject in dict.fromkeys(expanded):
        if not is_user_group(subject):
            continue
        if resolve is None:
            unresolved.append(subject)
        elif actor in resolve(subject):
            return True, ()
    return False, tuple(unresolved)


def _name(action: str | None, playbook: str | None) -> str:
    if (action is None) == (playbook is None):
        raise ValueError("name exactly one of `action` and `playbook`")
    return action if action is not None else f"playbook {playbook}"


def _where(target: Target | None) -> str:
    return f" in {target.namespace}" if target is not None and target.namespace else ""


def _covers(names: Sequence[str], name: str, *, wildcard: bool) -> bool:
    return name in names or (wildcard and ANYONE in names)


def find_rule(
    policy: Policy,
    *,
    action: str | None = None,
    playbook: str | None = None,
    target: Target | None,
    writes: bool = True,
    open_to_all: bool = False,
) -> Rule | None:
    """The first rule that covers this action or playbook on this target (see the module doc)."""
    _name(action, playbook)
    namespace = target.namespace if target is not None else None
    for rule in policy.rules:
        if action is not None:
            covered = _covers(rule.actions, action, wildcard=writes and not open_to_all)
        else:
            covered = _covers(rule.playbooks, str(playbook), wildcard=True)
        if not covered:
            continue
        if rule.namespaces and namespace not in rule.namespaces:
            continue
        if rule.gpus is not None and rule.gpus != (target is not None and target.gpus > 0):
            continue
        return rule
    return None


def _outside_allowlist(policy: Policy, target: Target | None) -> Decision | None:
    namespace = target.namespace if target is not None else None
    if policy.namespaces and namespace is not None and namespace not in policy.namespaces:
        return Decision(
            False,
            f"namespace {namespace} is not in the allowlist ({', '.join(policy.namespaces)}): "
            "opsbot does not act there",
        )
    return None


def _refusal(sentence: str, unresolved: tuple[str, ...]) -> str:
    if unresolved:
        sentence += f" (Slack user group {', '.join(unresolved)} could not be checked)"
    return sentence


def may_run(
    policy: Policy,
    actor: str,
    *,
    action: str | None = None,
    playbook: str | None = None,
    target: Target | None,
    resolve: GroupResolver | None = None,
    writes: bool = True,
    open_to_all: bool = False,
) -> Decision:
    """May ``actor`` run this action (``writes=False``: a read-only one; ``open_to_all``: anyone
    unless a rule names it) or playbook here?"""
    what = _name(action, playbook) + _where(target)
    refused = _outside_allowlist(policy, target)
    if refused is not None:
        return refused
    rule = find_rule(
        policy,
        action=action,
        playbook=playbook,
        target=target,
        writes=writes,
        open_to_all=open_to_all,
    )
    if rule is None:
        if action is not None and not writes:
            return Decision(True, f"{action} only reads: anyone may run it")
        if action is not None and open_to_all:
            return Decision(True, f"anyone may run {action} (no policy rule names it)")
        return Decision(
            False, f"no policy rule allows {what} (add one under policy.rules to allow it)"
        )
    approvers = tuple(rule.approve)
    ok, unresolved = _match(policy, actor, rule.run, resolve)
    if not ok:
        allowed = f"allowed are {', '.join(rule.run)}" if rule.run else "the policy allows no one"
        return Decision(
            False,
            _refusal(f"{actor} may not run {what}: {allowed}", unresolved),
            approvers=approvers,
        )
    if rule.approval == "required":
        return Decision(
            True,
            f"{actor} may run {what}, once approved by {' or '.join(approvers)}",
            approval_required=True,
            approvers=approvers,
        )
    return Decision(True, f"{actor} may run {what}, no approval needed", approvers=approvers)


def may_approve(
    policy: Policy,
    approver: str,
    *,
    requester: str,
    action: str | None = None,
    playbook: str | None = None,
    target: Target | None,
    resolve: GroupResolver | None = None,
    writes: bool = True,
    open_to_all: bool = False,
) -> Decision:
    """May ``approver`` approve ``requester``'s run of this action or playbook here?"""
    what = _name(action, playbook) + _where(target)
    refused = _outside_allowlist(policy, target)
    if refused is not None:
        return refused
    rule = find_rule(
        policy,
        action=action,
        playbook=playbook,
        target=target,
        writes=writes,
        open_to_all=open_to_all,
    )
    if rule is None:
        return Decision(False, f"no policy rule covers {what}, so no one may approve it")
    approvers = tuple(rule.approve)
    ok, unresolved = _match(policy, approver, rule.approve, resolve)
    if not ok:
        named = f"approvers are {', '.join(approvers)}" if approvers else "it names no approvers"
        return Decision(
            False,
            _refusal(f"{approver} may not approve {what}: {named}", unresolved),
            approvers=approvers,
        )
    environment = target.environment if target is not None else None
    guarded = not rule.environments or environment in rule.environments
    if approver == requester and not rule.self_approve and guarded:
        where = f" in {environment}" if environment else ""
        return Decision(
            False,
            f"you asked for this run; someone else from {' or '.join(approvers)} must approve "
            f"it{where}",
            approvers=approvers,
        )
    return Decision(True, f"{approver} may approve {what}", approvers=approvers)


def approval_expiry(policy: Policy) -> timedelta:
    """How long an approval request stays open before it expires."""
    return timedelta(minutes=policy.approval_expiry_min)
