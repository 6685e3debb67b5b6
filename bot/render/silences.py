"""Block Kit for silences: the select that makes one, the root's line, the thread's replies.

    silence_element(incident)         the "Silence alerts…" select for the root: 1 h, 4 h, until
                                      Monday 09:00, Custom… (each value is ``<incident>:<choice>``);
                                      ``silence_select``: the same as a dict
    silence_line(silence, now)        the root's line while a silence is active
    silenced_reply / expired_reply    what the thread says when one is made / expired

Texts are built from validated parts only: label names and values are escaped, a person is a
mention only when the actor is a Slack user ID (the console's actor is plain text).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Option, PlainTextObject, StaticSelectElement

from bot.incidents.silence_windows import CHOICES, CUSTOM, until_text
from bot.render.blocks import mrkdwn_section, to_dicts
from bot.store.models import Incident
from bot.store.oncall_models import Silence
from bot.text.mrkdwn import escape

SILENCE_ACTION = "opsbot_silence"
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
    return text, to_dicts([mrkdwn_section(text)])


def expired_reply(silence: Silence, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    by = person(silence.expired_by) if silence.expired_by else "someone"
    text = (
        f":bell: {by} expired silence {silence.id} (`{escape(matchers_text(silence))}`): "
        "its alerts notify again."
    )
    return text, to_dicts([mrkdwn_section(text)])
