"""Block Kit for incident messages: the root (always the current state) and thread replies.

Every builder returns ``(text, blocks)``: ``text`` is the notification / accessibility fallback
and what the console transport prints; ``blocks`` are plain dicts, ready for the outbox's JSON.

The builders here and in the sibling modules compose ``slack_sdk.models.blocks`` objects and
turn them into dicts at the end (``to_dicts``). slack_sdk checks some limits when it does and
raises ``SlackObjectFormationError`` past them (header 150, section text 3000, 10 fields,
button text 75 and value 2000, confirm texts 30 to 300): every text is clipped to its limit
*before* it goes in (a button value, which a cut would break, is checked instead), so that a
long label never makes a builder raise. Text objects are always built explicitly
(``PlainTextObject(text=...)``): given a bare string, slack_sdk would add ``"emoji": true`` to
plain text. tests/render/test_block_json.py pins the JSON.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.blocks import Block as SlackBlock

from bot.render.incident_controls import root_controls
from bot.render.paging import oncall_field
from bot.store.models import Incident, IncidentStatus
from bot.text.mrkdwn import escape

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000  # also a context element's text
HEADER_LIMIT = 150
FIELD_LIMIT = 2000  # one of a section's fields
MAX_FIELDS = 10
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
MAX_BLOCKS = 50
MAX_ALERTS_PER_REPLY = 20
OFFER_ACTION = "opsbot_offer"

STATUS_ICON = {
    IncidentStatus.FIRING: ":red_circle:",
    IncidentStatus.ACKNOWLEDGED: ":large_orange_circle:",
    IncidentStatus.RESOLVED: ":large_green_circle:",
}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_time(at: datetime) -> str:
    epoch = int(at.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time_secs}}|{at:%Y-%m-%d %H:%M:%S} UTC>"


def to_dicts(blocks: Sequence[SlackBlock]) -> list[Block]:
    """The blocks as the JSON dicts Slack takes."""
    return [block.to_dict() for block in blocks]


def mrkdwn_section(text: str) -> SectionBlock:
    """A section of one mrkdwn text, clipped to fit."""
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT_LIMIT)))


def mrkdwn_sections(lines: Sequence[str]) -> list[SectionBlock]:
    """``lines`` in as few sections as they fit in (``chunk_lines``)."""
    return [mrkdwn_section(chunk) for chunk in chunk_lines(lines, SECTION_TEXT_LIMIT)]


def mrkdwn_context(text: str) -> ContextBlock:
    """A context line of one mrkdwn text, clipped to fit."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_TEXT_LIMIT))])


def _link(url: str | None, label: str) -> str | None:
    if not url or not url.startswith(("http://", "https://")):
        return None
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>"


def root_message(
    incident: Incident,
    alerts_firing: int,
    alerts_total: int,
    remediation: str | None = None,
    *,
    severities: Sequence[str] = (),
    paged: Collection[str] = (),
    silence: str | None = None,
) -> tuple[str, list[Block]]:
    """The root: status, facts, the likely cause, the running playbook (``remediation``, e.g.
    "rollback-model-deploy: waiting for approval (rollback)"), the active silence (``silence``:
    ``bot.render.silences.silence_line``), links, playbook buttons, and the controls that still
    apply (``incident_controls``; ``severities``: the select's choices; ``paged``: the services
    PagerDuty pages)."""
    status = incident.status
    icon = STATUS_ICON.get(status, ":grey_question:")
    title = clip(incident.title, HEADER_LIMIT - 20)
    header = f"#{incident.id} {title}"
    text = (
        f"{status.upper()}: #{incident.id} {escape(incident.title)} "
        f"(severity {escape(incident.severity or 'unknown')}, "
        f"service {escape(incident.service or 'unknown')})"
    )
    fields = [
        f"*Status*\n{icon} {status}",
        f"*Severity*\n{escape(incident.severity or 'unknown')}",
        f"*Service*\n{escape(incident.service or 'unknown')}",
        f"*Started*\n{slack_time(incident.opened_at)}",
        f"*Alerts*\n{alerts_firing} firing / {alerts_total} total",
    ]
    if incident.acknowledged_at:
        fields.append(f"*Acknowledged*\n{slack_time(incident.acknowledged_at)}")
    if incident.resolved_at:
        fields.append(f"*Resolved*\n{slack_time(incident.resolved_at)}")
    if oncall := oncall_field(incident):
        fields.append(oncall)
    if incident.lead:
        fields.append(f"*Lead*\n<@{incident.lead}>")
    blocks: list[SlackBlock] = [
        HeaderBlock(text=PlainTextObject(text=clip(header, HEADER_LIMIT))),
        SectionBlock(
            fields=[MarkdownTextObject(text=clip(f, FIELD_LIMIT)) for f in fields[:MAX_FIELDS]]
        ),
    ]
    if incident.likely_cause:
        cause = clip(escape(incident.likely_cause), SECTION_TEXT_LIMIT - 40)
        blocks.append(mrkdwn_section(f":mag: *Likely cause:* {cause}"))
        text += f" Likely cause: {escape(incident.likely_cause)}"
    if remediation:
        # From validated names and Slack user IDs only: a mention must stay one.
        blocks.append(mrkdwn_section(f":gear: *Playbook* {remediation}"))
    if silence:
        # From validated label text and Slack user IDs only, like the playbook line.
        blocks.append(mrkdwn_section(silence))
    if links := _links(incident):
        blocks.append(mrkdwn_context(links))
    if status != IncidentStatus.RESOLVED and (
        buttons := offer_buttons(incident, incident.playbooks)
    ):
        blocks.append(ActionsBlock(block_id="opsbot_playbooks", elements=buttons))
    if controls := root_controls(incident, severities, paged):
        blocks.append(controls)
    return text, to_dicts(blocks)


def _links(incident: Incident) -> str | None:
    """Graph · Runbook · PagerDuty, those that fit in one context text: a link cut short would
    point nowhere, so one that does not fit (a graph URL holds its whole query) is left out."""
    text = ""
    for link in (
        _link(incident.generator_url, "Graph"),
        _link(incident.runbook_url, "Runbook"),
        _link(incident.pagerduty_url, "PagerDuty"),
    ):
        if link is None:
            continue
        joined = f"{text} · {link}" if text else link
        if len(joined) <= SECTION_TEXT_LIMIT:
            text = joined
    return text or None


MAX_OFFER_BUTTONS = 5


def offer_buttons(incident: Incident, names: Sequence[str]) -> list[ButtonElement]:
    """A button per playbook in ``names`` (five at most), on the root and in triage answers.
    A click starts the playbook (its steps still ask for approval); the value names only the
    incident and the playbook, checked against what this incident offers, so a value too long
    for Slack is not cut: that playbook is not offered."""
    buttons = []
    for i, name in enumerate(names[:MAX_OFFER_BUTTONS]):
        value = f"{incident.id}:{name}"
        if len(value) <= BUTTON_VALUE_LIMIT:
            buttons.append(
                ButtonElement(
                    action_id=f"{OFFER_ACTION}_{i}",
                    text=PlainTextObject(text=clip(f"Run {name}", BUTTON_TEXT_LIMIT)),
                    value=value,
                )
            )
    return buttons


class AlertLike(Protocol):
    """What a reply shows of an alert: a stored ``Alert`` or an incoming webhook alert."""

    @property
    def alertname(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def annotations(self) -> dict[str, str]: ...


def alert_line(alert: AlertLike) -> str:
    icon = ":fire:" if alert.status == "firing" else ":white_check_mark:"
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    labels = ", ".join(
        f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in ("alertname", "severity")
    )
    line = f"{icon} *{escape(alert.alertname or alert.fingerprint)}* {alert.status}"
    if summary:
        line += f" — {escape(clip(summary, 300))}"
    if labels:
        line += f"\n      `{escape(clip(labels, 400))}`"
    return line


def alerts_reply(alerts: Sequence[AlertLike]) -> tuple[str, list[Block]]:
    """One thread reply for the alerts one delivery (or several merged ones) brought."""
    firing = sum(1 for a in alerts if a.status == "firing")
    resolved = len(alerts) - firing
    text = f"{len(alerts)} alert(s): {firing} firing, {resolved} resolved"
    lines = [alert_line(a) for a in alerts[:MAX_ALERTS_PER_REPLY]]
    if len(alerts) > MAX_ALERTS_PER_REPLY:
        lines.append(f"…and {len(alerts) - MAX_ALERTS_PER_REPLY} more")
    return text, to_dicts(mrkdwn_sections(lines))


def note_reply(text: str) -> tuple[str, list[Block]]:
    return text, to_dicts([mrkdwn_section(text)])


def chunk_lines(lines: Sequence[str], limit: int) -> list[str]:
    out: list[str] = []
    cur = ""
    for line in lines:
        line = clip(line, limit)
        if cur and len(cur) + 1 + len(line) > limit:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        out.append(cur)
    return out
