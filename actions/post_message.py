"""``post_message``: post a line into the incident's Slack thread (``ctx.say``).

Harmless, so ``writes = False``: no approval. Without a thread to post to (``ctx.say`` is None,
e.g. a run from the console with no incident) it refuses. ``ctx.say`` gives no way to look for
an earlier post, so a second apply posts again: once per idempotency key is the runner's promise
(it applies a run once), not this action's.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field, field_validator

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target

TEXT_MAX = 3000  # a Slack section block's text limit
PREVIEW = 200


class PostMessageParams(Params):
    text: str = Field(
        min_length=1,
        max_length=TEXT_MAX,
        description="What to post in the incident thread (Slack mrkdwn).",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        return value


def _say(ctx: ActionContext) -> Callable[[str], None]:
    if ctx.say is None:
        raise ActionRefused("no incident thread to post to")
    return ctx.say


class PostMessage(Action[PostMessageParams]):
    name = "post_message"
    description = "Post a message in the incident's Slack thread."
    params_model = PostMessageParams
    writes = False

    def target(self, ctx: ActionContext, params: PostMessageParams) -> Target:
        return Target(None, "slack/thread")

    def plan(self, ctx: ActionContext, params: PostMessageParams) -> Plan:
        _say(ctx)
        text = params.text
        preview = text if len(text) <= PREVIEW else f"{text[: PREVIEW - 1]}…"
        return Plan(summary=f"Post in the incident thread: {preview}", lines=[text])

    def apply(self, ctx: ActionContext, params: PostMessageParams, plan: Plan) -> Result:
        _say(ctx)(params.text)
        return Result(True, "Posted in the incident thread", {"chars": len(params.text)})
