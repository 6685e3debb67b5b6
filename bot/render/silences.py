"""Block Kit for silences: the select that makes one, the root's line, the thread's replies.

    silence_element(incident)         the "Silence alerts…" select for the root: 1 h, 4 h, until
                                      Monday 09:00, Custom… (each value is ``<incident>:<choice>``);
                                      ``silence_select``: the same as a dict;
                                      ``silence_control``: it, where a silence can be made
    silence_line(silence, now)        the root's line while a silence is active
    silenced_reply / expired_reply    what the thread says when one is made / expired

Nothing here imports ``bot.render.blocks``, so the root's builder may import this module.
Texts are built from validated parts only: label names and values are escaped, a person is a
mention only when the actor is a Slack user ID (the console's actor is plain text).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.incidents.group_labels import ALERTMANAGER
from bot.incidents.silence_windows import CHOICES, CUSTOM, until_text
from bot.store.models import Incident, IncidentStatus
from bot.store.oncall_models import Silence
from bot.text.mrkdwn import escape

SILENCE_ACTION = "opsbot_silence"
SECTION_TEXT_LIMIT = 3000  # Slack's, as in ``blocks`` (not imported: ``blocks`` may import this)
CUSTOM_LABEL = "Custom…"
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def silence_element(incident: Incident) -> StaticSelectElement:
    """The select that silences the incident's alerts, for the root's controls."""
    options = [
        Option(value=f"{incident.id}:{choice}", text=PlainTextObject(text=label))
        for choice, label in {**CHOICES, CUSTOM: CUSTOM_LABEL}.items()
    ]
    return StaticSelectElement(
        action_id=SILENCE_ACTION,
        placeholder=PlainTextObject(text="Silence alerts…"),
        options=options,
    )


def silence_control(incident: Incident) -> StaticSelectElement | None:
    """``silence_element`` where a silence can be made: an open incident from Alertmanager (one
    from PagerDuty or declared by hand has no alert labels to match)."""
    if incident.source != ALERTMANAGER or incident.status == IncidentStatus.RESOLVED:
        return None
    return silence_element(incident)


def silence_select(incident: Incident) -> dict[str, Any]:
    """``silence_element`` as the JSON Slack takes (an element of an actions block)."""
    return silence_element(incident).to_dict()


def person(actor: str) -> str:
    """``<@U0ALICE>`` for a Slack user, the actor as text otherwise (``console``)."""
    return f"<@{actor}>" if _SLACK_USER.match(actor) else escape(actor)


def matchers_text(silence: Silence) -> str:
    return ", ".join(f"{m.get('name')}={m.get('value')}" for m in silence.matchers)


def silence_line(silence: Silence, now: datetime) -> str:
    """``:no_bell: Silenced until 14:00 UTC by <@U…> (expire: /ops unsilence 3)``."""
    return (
        f":no_bell: *Silenced* until {until_text(silence.ends_at, now)} by "
        f"{person(silence.created_by)} (expire: `/ops unsilence {silence.id}`)"
    )


def silenced_reply(silence: Silence, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f":no_bell: {person(silence.created_by)} silenced alerts matching "
        f"`{escape(matchers_text(silence))}` until {until_text(silence.ends_at, now)} "
        f"(silence {silence.id}, Alertmanager {silence.silence_id[:8]}). "
        f"Expire it with `/ops unsilence {silence.id}`."
    )
    return text, _section(text)


def expired_reply(silence: Silence, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    by = person(silence.expired_by) if silence.expired_by else "someone"
    text = (
        f":bell: {by} expired silence {silence.id} (`{escape(matchers_text(silence))}`): "
        "its alerts notify again."
    )
    return text, _section(text)


def _section(text: str) -> list[dict[str, Any]]:
    """One mrkdwn section, clipped to Slack's limit (twenty long label values can pass it)."""
    if len(text) > SECTION_TEXT_LIMIT:
        text = text[: SECTION_TEXT_LIMIT - 1] + "…"
    return [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]
