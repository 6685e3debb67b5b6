"""The console acts as whom the policy lets its operating-system user act as, and the audit log
records both who typed and as whom; on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.audit.log import read as read_audit
from bot.audit.verify import verify
from bot.catalog.load import parse_catalog
from bot.chat.commands import Ops
from bot.chat.console_identity import ConsoleIdentity, console_identity, current_os_user
from bot.chat.console_repl import repl
from bot.clients.kubernetes import KubeClient
from bot.clients.set import Clients
from bot.errors import ConfigError
from bot.runner.execute import Executor
from tests.fakes.kubernetes.api import KubeApiFake
from tests.support.kube import roll_fraud_scorer

NS, DEPLOY = "ml-serving", "fraud-scorer"
CATALOG = parse_catalog(f"""
services:
  fraud-scorer: {{namespace: {NS}, deployments: [{DEPLOY}]}}
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      run: ["@sre"]
      approve: ["@sre"]
  console_users:
    alice: U0ALICE
    root: [U0OPS, U0BOB]
""")
POLICY = CATALOG.policy


def test_without_as_the_os_user_acts_as_its_one_slack_user() -> None:
    assert console_identity(POLICY, "alice", None) == ConsoleIdentity("alice", "U0ALICE")


def test_an_os_user_with_several_or_none_acts_as_console_os_user() -> None:
    several = console_identity(POLICY, "root", None)
    assert several.acts_as == "console:root"
    assert not several.mapped
    assert console_identity(POLICY, "mallory", None).acts_as == "console:mallory"


def test_as_picks_one_of_the_os_users_slack_users() -> None:
    assert console_identity(POLICY, "root", "U0BOB").acts_as == "U0BOB"
    assert console_identity(POLICY, "alice", "U0ALICE").typed_by == "console:alice"


@pytest.mark.parametrize(
    ("os_user", "claimed", "says"),
    [
        ("alice", "U0BOB", "it maps alice to U0ALICE"),
        ("mallory", "U0ALICE", "it does not map mallory to anyone"),
    ],
)
def test_as_anyone_else_is_refused_in_one_line(os_user: str, claimed: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        console_identity(POLICY, os_user, claimed)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"--as {claimed} refused: OS user {os_user} may act only as")
    assert says in message
    assert f"add {claimed} there to allow it" in message


def test_the_os_user_is_the_real_uids_account_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import pwd

    monkeypatch.setenv("USER", "U0ALICE-not-me")
    monkeypatch.setenv("LOGNAME", "alice")
    assert current_os_user() == pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def ops(engine: Engine, kube: KubeApiFake, kc: KubeClient) -> tuple[Ops, KubeApiFake]:
    roll_fraud_scorer(kube)
    return Ops(Executor(engine, CATALOG, Clients(kube=kc))), kube


def console(
    engine: Engine, ops: Ops, identity: ConsoleIdentity, typed: str, *, refused: bool = False
) -> str:
    """What the console printed for ``typed``; its exit status says whether a command failed."""
    out = io.StringIO()
    status = repl(engine, io.StringIO(typed), out, catalog=CATALOG, ops=ops, identity=identity)
    assert status == (1 if refused else 0), out.getvalue()
    return out.getvalue()


def test_the_audit_log_records_who_typed_and_as_whom(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    alice = console_identity(POLICY, "alice", None)
    asked = console(engine, ops[0], alice, "rollback fraud-scorer\n")
    assert "Acting as U0ALICE (OS user alice" in asked
    token = asked.split("Approve with: approve ")[1].split()[0]
    bob = console_identity(POLICY, "root", "U0BOB")
    assert "Done" in console(engine, ops[0], bob, f"approve {token}\n")

    with Session(engine) as s:
        entries = read_audit(s)
        assert verify(s).ok
    assert entries
    seen = {(e.event, e.actor, (e.result or {}).get("origin", {}).get("typed_by")) for e in entries}
    assert ("requested", "U0ALICE", "console:alice") in seen
    assert ("approved", "U0BOB", "console:root") in seen
    for entry in entries:
        origin = (entry.result or {})["origin"]
        assert origin["acted_as"] == entry.actor
        assert origin["typed_by"] in ("console:alice", "console:root")


def test_an_unmapped_os_user_reads_but_every_write_is_refused(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    mallory = console_identity(POLICY, "mallory", None)
    out = console(engine, ops[0], mallory, "incidents\nrollback fraud-scorer\n", refused=True)
    assert "Acting as console:mallory: read-only" in out
    assert "No open incidents." in out
    assert "console:mallory may not run rollback_deployment" in out
    assert not any(r[0] == "PATCH" for r in ops[1].requests)
    with Session(engine) as s:
        [requested, refused] = read_audit(s)
    assert (requested.event, refused.event) == ("requested", "refused")
    assert refused.actor == "console:mallory"
    assert refused.result is not None
    assert refused.result["origin"] == {
        "typed_by": "console:mallory",
        "acted_as": "console:mallory",
    }


def test_at_the_console_only_the_requester_withdraws_and_a_stranger_cannot_reject(
    engine: Engine, ops: tuple[Ops, KubeApiFake]
) -> None:
    alice = console_identity(POLICY, "alice", None)
    asked = console(engine, ops[0], alice, "rollback fraud-scorer\n")
    token = asked.split("Approve with: approve ")[1].split()[0]
    bob = console_identity(POLICY, "root", "U0BOB")
    mallory = console_identity(POLICY, "mallory", None)
    assert "Only <@U0ALICE>, who asked for it, may withdraw" in console(
        engine, ops[0], bob, f"withdraw {token}\n", refused=True
    )
    assert "You may not reject this: console:mallory may not approve" in console(
        engine, ops[0], mallory, f"reject {token}\n", refused=True
    )
    assert "Withdrawn by <@U0ALICE>; nothing was changed." in console(
        engine, ops[0], alice, f"withdraw {token}\n"
    )
    with Session(engine) as s:
        tail = [(e.event, e.actor) for e in read_audit(s)][-3:]
    assert tail == [
        ("withdrawal_refused", "U0BOB"),
        ("rejection_refused", "console:mallory"),
        ("withdrawn", "U0ALICE"),
    ]
    assert not any(r[0] == "PATCH" for r in ops[1].requests)
