"""What every ``/ops`` command shares: its context, its reply, and the few argument helpers.

A command is a ``Handler``: it takes the ``CommandContext`` (who asks, where, the store, the
catalog, and the execution path when there is one) and the arguments, and answers a ``Reply``
(text for the console and notifications, Block Kit for Slack).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from bot.catalog.model import Catalog
from bot.render.approvals import approval_request, outcome
from bot.render.blocks import SECTION_TEXT_LIMIT, chunk_lines
from bot.runner.ops import Ops
from bot.store.run_models import RunStatus
from bot.text.mrkdwn import escape

if TYPE_CHECKING:
    from bot.reports.drift_coverage import RuleSource
    from bot.store.run_models import RunView
    from bot.summary.worker import SummaryWorker


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ok: bool = True
    public: bool = False  # Slack: post in the channel (approvals, results), not just to the asker
    # Work to do after answering (a playbook going on after an approval): Slack runs it in the
    # background once the answer is sent, the console right after printing it.
    then: Callable[[], None] | None = None


@dataclass
class CommandContext:
    engine: Engine
    user: str = "console"
    channel: str | None = None
    catalog: Catalog = field(default_factory=Catalog)
    ops: Ops | None = None
    incident_id: int | None = None
    summaries: SummaryWorker | None = None  # where one runs (opsbot serve)
    change_window_min: int = 360  # OPSBOT_CHANGE_FAILURE_WINDOW_MIN, for `report`
    prometheus: RuleSource | None = None  # its rules, for `report`'s drift coverage


Handler = Callable[[CommandContext, list[str]], Reply]


def reply(lines: list[str], *, ok: bool = True, public: bool = False) -> Reply:
    """Plain lines, as Slack sections (escaped, chunked, at most 50)."""
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in chunk_lines([escape(line) for line in lines], SECTION_TEXT_LIMIT)
    ][:50]
    return Reply(text="\n".join(lines), blocks=blocks, ok=ok, public=public)


def say(text: str, *, ok: bool = True, public: bool = False) -> Reply:
    """``reply`` for a text of one or more lines."""
    return reply(text.splitlines(), ok=ok, public=public)


def split_flags(args: list[str]) -> tuple[list[str], bool]:
    """The arguments without ``--dry-run``, and whether it was there."""
    dry = "--dry-run" in args
    return [a for a in args if a != "--dry-run"], dry


def ready(ctx: CommandContext) -> Ops | Reply:
    """The execution path, or the reply that says there is none here."""
    if ctx.ops is None:
        return say("Actions are not available here.", ok=False)
    return ctx.ops


def answer(ctx: CommandContext, view: RunView) -> Reply:
    """The reply to an action request: the approval request, or the outcome."""
    if view.status == RunStatus.AWAITING_APPROVAL and view.approval_token:
        text, blocks = approval_request(view, ctx.user, view.approval_token)
        if ctx.channel is None:  # the console: no buttons
            lines = [text, *[f"  {line}" for line in view.plan.get("lines", [])]]
            lines.append(f"Approve with: approve {view.approval_token}")
            return reply(lines, public=True)
        return Reply(text=text, blocks=blocks, public=True)
    text, blocks = outcome(view)
    ok = view.status not in (RunStatus.REFUSED, RunStatus.FAILED)
    # Results are for the channel; refusals and dry runs only for whoever asked.
    public = view.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    return Reply(text=text, blocks=blocks, ok=ok, public=public)
