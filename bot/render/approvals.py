"""Messages of the remediation path: an approval request with its plan, and what happened."""

from __future__ import annotations

from bot.render.blocks import SECTION_TEXT_LIMIT, Block, chunk_lines, clip
from bot.store.run_models import RunView
from bot.text.mrkdwn import escape

APPROVE_ACTION = "opsbot_approve"
REJECT_ACTION = "opsbot_reject"


def approval_request(view: RunView, requested_by: str, token: str) -> tuple[str, list[Block]]:
    """The plan, and Approve / Reject buttons that carry only the opaque token."""
    plan = view.plan
    summary = escape(str(plan.get("summary", view.action)))
    lines = [f"• {escape(str(line))}" for line in plan.get("lines", [])]
    text = f"Approval needed: {plan.get('summary', view.action)} (asked by {requested_by})"
    blocks: list[Block] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": clip(f":raised_hand: *Approval needed* — {summary}", SECTION_TEXT_LIMIT),
            },
        }
    ]
    for chunk in chunk_lines(lines, SECTION_TEXT_LIMIT):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"`{view.action}` asked by <@{requested_by}>"}],
        }
    )
    blocks.append(
        {
            "type": "actions",
            "block_id": "opsbot_approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": token,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": token,
                },
            ],
        }
    )
    return text, blocks


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
    lines += [f"• {escape(str(line))}" for line in view.plan.get("lines", [])][:20]
    return text, [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in chunk_lines(lines, SECTION_TEXT_LIMIT)
    ]
