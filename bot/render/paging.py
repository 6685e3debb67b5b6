"""Paging in words and Block Kit: who is on call (``/ops oncall``), the root's on-call line, and
the root's "Page" button (placed by the root's controls; a click runs ``/ops page`` for the
incident, ``bot/chat/slack/paging.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ButtonElement, ConfirmObject, PlainTextObject

from bot.incidents.oncall import OnCallNow
from bot.store.models import Incident, IncidentStatus
from bot.text.mrkdwn import escape

PAGE_ACTION = "opsbot_page"


def when(at: datetime, now: datetime) -> str:
    """``18:00 UTC`` on ``now``'s (UTC) day, ``Tue 8 Dec 18:00 UTC`` on another."""
    if at.date() == now.date():
        return f"{at:%H:%M} UTC"
    return f"{at:%a} {at.day} {at:%b %H:%M} UTC"


def oncall_lines(now: OnCallNow) -> list[str]:
    """``/ops oncall`` for one service: the policy, each level now, the next hand-over."""
    lines = [f"{now.service} — {now.escalation_policy} ({now.escalation_policy_id})"]
    for oncall in now.levels:
        until = f" until {when(oncall.end, now.at)}" if oncall.end else " (always)"
        via = f" · {oncall.schedule}" if oncall.schedule else ""
        lines.append(f"  level {oncall.level}: {oncall.name}{until}{via}")
    if not now.levels:
        lines.append("  nobody is on call now")
    if now.handover is not None:
        to = f" to {now.next.name}" if now.next is not None else ""
        lines.append(f"  next hand-over: {when(now.handover, now.at)}{to}")
    return lines


def oncall_field(incident: Incident) -> str | None:
    """The root's field naming who is on call, as enrichment or the page last read it."""
    if not incident.oncall:
        return None
    return f"*On call*\n{escape(incident.oncall)}"


def page_element(incident: Incident) -> ButtonElement | None:
    """ "Page" while the incident is open: pages its service's on-call, or asks for more
    responders once it is on PagerDuty (as ``/ops page``). The value is the incident's number."""
    if incident.id is None or incident.status == IncidentStatus.RESOLVED:
        return None
    linked = incident.pagerduty_incident_id is not None
    return ButtonElement(
        action_id=PAGE_ACTION,
        text=PlainTextObject(text="Page more" if linked else "Page on-call"),
        value=str(incident.id),
        confirm=ConfirmObject(
            title=PlainTextObject(text="Page someone?"),
            text=PlainTextObject(
                text="Ask PagerDuty for the escalation policy's on-call to join."
                if linked
                else "Open a PagerDuty incident for this service: its on-call is paged now."
            ),
            confirm=PlainTextObject(text="Page"),
            deny=PlainTextObject(text="Not now"),
        ),
    )


def page_button(incident: Incident) -> dict[str, Any] | None:
    """``page_element`` as the JSON dict Slack takes."""
    element = page_element(incident)
    return element.to_dict() if element is not None else None
