"""Model output made safe to post to Slack.

A model that read an attacker's alert text may repeat what it read. ``safe_mrkdwn`` makes its
answer inert as Slack mrkdwn:

- ``&``, ``<`` and ``>`` are escaped, so no Slack link (``<url|text>``), mention or special
  command survives; the only markup put back is ``<@ID>`` for user IDs in ``allowed_users``
  (written ``<@U123>`` or ``@U123`` by the model).
- ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^…>`` and every plain ``@name`` become
  ``@\u200bname`` (a zero-width space after the ``@``): readable, and they notify no one.
- Markdown links ``[text](url)`` become ``text (url)``: the real URL is always on show.
- The result is capped at ``limit`` characters without cutting an entity or a mention in half.

``safe_plain`` is for ``plain_text`` fields, which Slack does not parse for markup.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from bot.text.mrkdwn import escape

__all__ = ["safe_mrkdwn", "safe_plain"]

ZWSP = "\u200b"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MD_LINK = re.compile(r"!?\[([^\]\n]{0,500})\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
# On escaped text: one alternative per kind of mention, tried left to right in one pass.
_MENTION = re.compile(
    r"&lt;@(?P<user>[A-Za-z0-9]+)(?:\|[^&\n]*?)?&gt;"
    r"|&lt;!subteam\^(?P<group>[A-Za-z0-9]+)(?:\|@?(?P<handle>[^&\n]*?))?&gt;"
    r"|&lt;!(?P<special>[a-z]+)(?:\^[^&\n]*?)?(?:\|[^&\n]*?)?&gt;"
    r"|(?<![\w.@/+-])@(?P<name>[A-Za-z0-9][\w.-]*)"
)
_BROADCASTS = {"channel", "here", "everyone"}
_OPEN_TAIL = re.compile(r"(?:&[a-z]{0,4}|<[^>]{0,24})$")  # a cut entity or mention at the end


def safe_mrkdwn(text: str, *, allowed_users: Collection[str] = (), limit: int = 2900) -> str:
    """``text`` as inert Slack mrkdwn: see the module docstring."""
    allowed = {user for user in allowed_users if _USER_ID.fullmatch(user)}
    text = _CONTROL.sub("", text)
    text = _MD_LINK.sub(_markdown_link, text)
    text = escape(text)
    text = _MENTION.sub(lambda match: _mention(match, allowed), text)
    return _clip(text, limit)


def safe_plain(text: str, limit: int = 150) -> str:
    """``text`` for a ``plain_text`` field: control characters dropped, broadcasts defused."""
    text = _CONTROL.sub("", text).replace("\n", " ")
    text = re.sub(r"(?<![\w.@/+-])@(?=[A-Za-z0-9])", "@" + ZWSP, text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _markdown_link(match: re.Match[str]) -> str:
    label, url = match.group(1).strip(), match.group(2)
    return url if not label or label == url else f"{label} ({url})"


def _mention(match: re.Match[str], allowed: set[str]) -> str:
    if user := match.group("user"):
        return f"<@{user}>" if user in allowed else match.group(0)
    if group := match.group("group"):
        return "@" + ZWSP + (match.group("handle") or group)
    if special := match.group("special"):
        return "@" + ZWSP + special if special in _BROADCASTS else match.group(0)
    name = match.group("name")
    return f"<@{name}>" if name in allowed else "@" + ZWSP + name


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    return _OPEN_TAIL.sub("", cut) + "…"
