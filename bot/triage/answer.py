"""The triage answer as a Slack message: the model's text made inert, what it read, one button.

The text is redacted again (``redact``) and goes through ``safe_mrkdwn``: no broadcast, no link
hiding another URL, and no user mention except of people on the incident's timeline or the
asker. A proposed playbook becomes a button only if the incident offers it
(``incident.playbooks``) and is not resolved; the button is the root's "Run <playbook>" button
(``offer_buttons``: same ``action_id`` pattern, same value ``"<incident_id>:<playbook>"``), so a
click goes to ``start_offered_playbook``, which checks the offer again and starts a run whose
steps ask for approval.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import ActionsBlock

from bot.render.blocks import Block, clip
from bot.render.blocks import offer_buttons as render_offer
from bot.store.models import Incident, IncidentStatus
from bot.text.mrkdwn import escape
from bot.text.slack_safe import safe_mrkdwn
from bot.text.untrusted import redact
from bot.triage.tools import Proposal

if TYPE_CHECKING:
    from bot.triage.agent import ToolUse

log = logging.getLogger(__name__)

BODY_LIMIT = 2900
TEXT_LIMIT = 300
REASON_LIMIT = 300
PROPOSAL_BLOCK = "opsbot_triage_proposal"


def offer_buttons(incident: Incident, names: Sequence[str], block_id: str) -> Block:
    """The root's playbook buttons (``bot.render.blocks.offer_buttons``), for ``names``."""
    return ActionsBlock(block_id=block_id, elements=render_offer(incident, names)).to_dict()


def offerable(incident: Incident, name: str) -> bool:
    return name in incident.playbooks and incident.status != IncidentStatus.RESOLVED


def render_answer(
    incident: Incident,
    text: str,
    *,
    used: Sequence[ToolUse],
    proposal: Proposal | None,
    allowed_users: Collection[str],
    note: str | None = None,
) -> tuple[str, list[Block], str | None]:
    """``(text, blocks, the playbook offered as a button or None)`` for the model's answer."""
    text = redact(text)  # the model may repeat a secret it should never have seen
    body = safe_mrkdwn(text, allowed_users=allowed_users, limit=BODY_LIMIT)
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    offered: str | None = None
    if proposal is not None:
        if offerable(incident, proposal.name):
            offered = proposal.name
            reason = safe_mrkdwn(redact(proposal.reason), limit=REASON_LIMIT)
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f":bulb: *Suggested playbook: {escape(proposal.name)}* — {reason}"
                        "\nA click starts it; each step still asks for approval.",
                    },
                }
            )
            blocks.append(offer_buttons(incident, [proposal.name], PROPOSAL_BLOCK))
        else:
            log.warning(
                "triage incident=%s: proposal of a playbook the incident does not offer dropped",
                incident.id,
            )
    blocks.append(context(_read_line(used), note))
    summary = safe_mrkdwn(text, allowed_users=allowed_users, limit=TEXT_LIMIT)
    return f"#{incident.id}: {summary}", blocks, offered


def context(line: str, note: str | None = None) -> Block:
    parts = [note, line] if note else [line]
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(p, 2000)} for p in parts],
    }


def _read_line(used: Sequence[ToolUse]) -> str:
    if not used:
        return ":mag: Answered without reading any tool. Read-only: nothing was changed."
    seen: list[str] = []
    for use in used:
        item = use.summary + ("" if use.status == "ok" else f" ({use.status})")
        if item not in seen:
            seen.append(item)
    return f":mag: Read: {escape(', '.join(seen))}. Read-only: nothing was changed."
