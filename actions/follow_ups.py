"""``complete_follow_up``: mark a tracked follow-up done (``/ops followup done <n>``, the Done
button in the summary).

It changes opsbot's own record (through ``ctx.follow_ups``, ``bot/incidents/follow_ups.py``), so
like any action it is checked by policy, audited, dry-runnable and run once; it is
``open_to_all``, as anyone on the incident may tick off a follow-up unless a policy rule names
it. An unknown number is refused; one already done is nothing to do; two completions racing
write one done event (the book's conditional UPDATE), the other reports who did it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target

if TYPE_CHECKING:
    from bot.incidents.follow_ups import FollowUpBook, Item


def book(ctx: ActionContext) -> FollowUpBook:
    if ctx.follow_ups is None:
        raise ActionRefused("follow-ups cannot be changed from here")
    return ctx.follow_ups


def item(ctx: ActionContext, item_id: int) -> Item:
    found = book(ctx).get(item_id)
    if found is None:
        raise ActionRefused(f"there is no follow-up #{item_id}")
    return found


TEXT_SHOWN = 200


def _short(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"


def _done_by(found: Item) -> str:
    return f" by <@{found.done_by}>" if found.done_by else ""


class FollowUpParams(Params):
    follow_up_id: int = Field(ge=1, description="The follow-up's number (`/ops followups`)")


class CompleteFollowUp(Action[FollowUpParams]):
    name = "complete_follow_up"
    description = "Mark a follow-up from an incident's notes done."
    params_model = FollowUpParams
    open_to_all = True

    def target(self, ctx: ActionContext, params: FollowUpParams) -> Target:
        return Target(None, f"follow_up/{params.follow_up_id}")

    def plan(self, ctx: ActionContext, params: FollowUpParams) -> Plan:
        found = item(ctx, params.follow_up_id)
        if found.done:
            return Plan(
                summary=f"Follow-up #{found.id} is already done{_done_by(found)}", noop=True
            )
        owner = f"<@{found.owner}>" if found.owner else "nobody"
        return Plan(
            summary=f"Mark follow-up #{found.id} done",
            lines=[
                f"incident #{found.incident_id}: {_short(found.text)}",
                f"owner: {owner}",
                "state: open → done",
            ],
        )

    def apply(self, ctx: ActionContext, params: FollowUpParams, plan: Plan) -> Result:
        won = book(ctx).complete(params.follow_up_id, by=ctx.actor)
        found = item(ctx, params.follow_up_id)
        data = {"follow_up_id": found.id, "incident_id": found.incident_id, "done": won}
        if not won:
            return Result(True, f"Follow-up #{found.id} was already done{_done_by(found)}", data)
        return Result(True, f"Follow-up #{found.id} done: {_short(found.text)}", data)
