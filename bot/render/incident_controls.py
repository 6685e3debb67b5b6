"""The controls on an incident's root, kept to what still applies as the incident moves:
Acknowledge while it fires, Resolve while it is open, "I'll lead" while nobody leads, the
severity select, Silence (an incident from Alertmanager: ``silences.py``) and Page
(``paging.py``). Each carries only the incident's number; who clicked comes from Slack's signed
body, and every click runs the same command as typing it (``bot/chat/slack/incident_controls.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    InteractiveElement,
    Option,
    PlainTextObject,
    StaticSelectElement,
)

from bot.render.paging import page_element
from bot.render.silences import silence_control
from bot.store.models import Incident, IncidentStatus

ACK_ACTION = "opsbot_ack"
RESOLVE_ACTION = "opsbot_resolve"
LEAD_ACTION = "opsbot_lead"
SEVERITY_ACTION = "opsbot_severity"
CONTROLS_BLOCK = "opsbot_incident"
MAX_OPTIONS = 100


def root_controls(
    incident: Incident, severities: Sequence[str], paged: Collection[str] = ()
) -> ActionsBlock | None:
    """The root's controls for ``incident`` as it is now (None once it is resolved). Page is
    offered when the incident is on PagerDuty or its service is one of ``paged`` (the catalog's
    services with a ``pagerduty`` block)."""
    if incident.status == IncidentStatus.RESOLVED or incident.id is None:
        return None
    value = str(incident.id)
    elements: list[InteractiveElement] = []
    if incident.status == IncidentStatus.FIRING:
        elements.append(_button(ACK_ACTION, "Acknowledge", value, style="primary"))
    elements.append(
        _button(
            RESOLVE_ACTION,
            "Resolve",
            value,
            confirm=ConfirmObject(
                title=PlainTextObject(text="Resolve the incident?"),
                text=PlainTextObject(text="Its summary is written once it is resolved."),
                confirm=PlainTextObject(text="Resolve"),
                deny=PlainTextObject(text="Not yet"),
            ),
        )
    )
    if incident.lead is None:
        elements.append(_button(LEAD_ACTION, "I'll lead", value))
    if select := severity_select(incident, severities):
        elements.append(select)
    if silence := silence_control(incident):  # an incident from Alertmanager
        elements.append(silence)
    pageable = incident.pagerduty_incident_id is not None or incident.service in paged
    if pageable and (page := page_element(incident)):
        elements.append(page)
    return ActionsBlock(block_id=CONTROLS_BLOCK, elements=elements)


def severity_select(incident: Incident, severities: Sequence[str]) -> StaticSelectElement | None:
    """A select of the catalog's severities, showing the current one when it is one of them.
    Each option's value is ``<incident>:<severity>``."""
    options = [
        Option(value=f"{incident.id}:{level}", text=PlainTextObject(text=level))
        for level in severities[:MAX_OPTIONS]
    ]
    if not options:
        return None
    current = next((o for o in options if o.value == f"{incident.id}:{incident.severity}"), None)
    return StaticSelectElement(
        action_id=SEVERITY_ACTION,
        placeholder=PlainTextObject(text="Severity"),
        options=options,
        initial_option=current,
    )


def _button(
    action_id: str,
    text: str,
    value: str,
    *,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(
        action_id=action_id,
        text=PlainTextObject(text=text),
        value=value,
        style=style,
        confirm=confirm,
    )
