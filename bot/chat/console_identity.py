"""Who is typing at ``opsbot console``, and whom they may act as.

A terminal proves one thing about its user: the operating-system account of the process (the
real uid, looked up in the password database; ``$USER`` and ``$LOGNAME`` are whatever the caller
set). The catalog's ``policy.console_users`` says which Slack users each OS user may act as:

    policy:
      console_users: {alice: U0ALICE, root: [U0OPS, U0ALICE]}

    opsbot console              alice → U0ALICE (her only one); root → refused to pick: console:root
    opsbot console --as U0OPS   root → U0OPS; alice → refused, with a one-line error

Without a mapping the console acts as ``console:<os user>``, whom no policy rule may name, so
reading works and every write is refused. Every audit entry written at the console records both:
the Slack user acted as (the entry's actor) and ``result.origin`` = who typed and as whom.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from bot.errors import ConfigError
from bot.policy.model import CONSOLE, Policy


@dataclass(frozen=True)
class ConsoleIdentity:
    os_user: str
    acts_as: str  # a Slack user ID from policy.console_users, or console:<os user>

    @property
    def typed_by(self) -> str:
        return f"{CONSOLE}:{self.os_user}"

    @property
    def mapped(self) -> bool:
        return self.acts_as != self.typed_by

    def origin(self) -> dict[str, str]:
        """What the audit log records beside the actor (``bot.audit.log.origin``)."""
        return {"typed_by": self.typed_by, "acted_as": self.acts_as}


def current_os_user() -> str:
    """The account of the real uid; ``uid<N>`` when the password database has no entry."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def console_identity(policy: Policy, os_user: str, claimed: str | None) -> ConsoleIdentity:
    """Whom ``os_user`` acts as: ``claimed`` (``--as``) only when the policy maps them to it
    (else ``ConfigError``, one line for the terminal)."""
    allowed = policy.console_slack_users(os_user)
    if claimed is not None:
        if claimed in allowed:
            return ConsoleIdentity(os_user, claimed)
        mapped = (
            f"it maps {os_user} to {', '.join(allowed)}"
            if allowed
            else f"it does not map {os_user} to anyone"
        )
        raise ConfigError(
            f"--as {claimed} refused: OS user {os_user} may act only as whom "
            f"policy.console_users allows ({mapped}); add {claimed} there to allow it"
        )
    if len(allowed) == 1:
        return ConsoleIdentity(os_user, allowed[0])
    return ConsoleIdentity(os_user, f"{CONSOLE}:{os_user}")
