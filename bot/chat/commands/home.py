"""``/ops home``: the App Home tab's sections as text, for the console (and in Slack, privately).

The same facts as the tab (``bot.home.facts``), every list in full; the approvals with the
``approve`` / ``reject`` commands that decide them, the jobs with their ``stop``.
"""

from __future__ import annotations

from bot.chat.commands.base import CommandContext, Handler, Reply, ready, reply
from bot.home.facts import home_facts
from bot.render.home import home_lines
from bot.store.types import utcnow


def cmd_home(ctx: CommandContext, args: list[str]) -> Reply:
    if args:
        return reply(
            ["Usage: /ops home   (your incidents, approvals, jobs, summaries, on call)"], ok=False
        )
    ops = ready(ctx)
    if isinstance(ops, Reply):
        return ops
    facts = home_facts(
        ctx.engine,
        ctx.user,
        executor=ops.executor,
        catalog=ctx.catalog,
        pagerduty=ops.executor.clients.pagerduty is not None,
        now=utcnow(),
    )
    return reply([f"Home of {ctx.user}", *home_lines(facts)])


HOME_COMMANDS: dict[str, Handler] = {"home": cmd_home}
