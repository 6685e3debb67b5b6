"""Messages of the remediation path: an approval request with its plan, and what happened."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, PlainTextObject
from slack_sdk.models.blocks import Block as SlackBlock

from bot.render.blocks import (
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    Block,
    chunk_lines,
    mrkdwn_context,
    mrkdwn_section,
    mrkdwn_sections,
    to_dicts,
)
from bot.store.run_models import RunView
from bot.text.mrkdwn import escape

APPROVE_ACTION = "opsbot_approve"
REJECT_ACTION = "opsbot_reject"
MAX_OUTCOME_LINES = 20


def approval_request(view: RunView, requested_by: str, token: str) -> tuple[str, list[Block]]:
    """The plan, and Approve / Reject buttons that carry only the opaque token."""
    plan = view.plan
    summary = escape(str(plan.get("summary", view.action)))
    lines = [f"• {escape(str(line))}" for line in plan.get("lines", [])]
    text = f"Approval needed: {plan.get('summary', view.action)} (asked by {requested_by})"
    blocks: list[SlackBlock] = [
        mrkdwn_section(f":raised_hand: *Approval needed* — {summary}"),
        *_plan_sections(lines, room=MAX_BLOCKS - 3),  # 3: the blocks around the plan
        mrkdwn_context(f"`{view.action}` asked by <@{requested_by}>"),
        ActionsBlock(
            block_id="opsbot_approval",
            elements=[
                ButtonElement(
                    action_id=APPROVE_ACTION,
                    style="danger",
                    text=PlainTextObject(text="Approve"),
                    value=token,
                ),
                ButtonElement(
                    action_id=REJECT_ACTION,
                    text=PlainTextObject(text="Reject"),
                    value=token,
                ),
            ],
        ),
    ]
    return text, to_dicts(blocks)


def _plan_sections(lines: list[str], room: int) -> list[SlackBlock]:
    """The plan's lines in at most ``room`` sections: a plan too long for one message ends
    with a line that says so, the buttons after it still fit."""
    chunks = chunk_lines(lines, SECTION_TEXT_LIMIT)
    if len(chunks) > room:
        cut = f"_…the plan goes on: {len(lines)} lines in all, too many to show here._"
        chunks = [*chunks[: room - 1], cut]
    return [mrkdwn_section(chunk) for chunk in chunks]


def outcome(view: RunView, who: str | None = None) -> tuple[str, list[Block]]:
    icon = {
        "succeeded": ":white_check_mark:",
        "dry_run": ":memo:",
        "failed": ":x:",
        "refused": ":no_entry:",
        "rejected": ":no_entry_sign:",
        "expired": ":hourglass:",
    }.get(view.status, ":gear:")
    by = f" (approved by <@{who}>)" if who and view.status == "succeeded" else ""
    text = f"{view.message}{by}"
    lines = [f"{icon} {escape(view.message)}{by}"]
    lines += [f"• {escape(str(line))}" for line in view.plan.get("lines", [])][:MAX_OUTCOME_LINES]
    return text, to_dicts(mrkdwn_sections(lines))
