"""Slack mrkdwn escaping: alert text is data, never markup or mentions."""

from __future__ import annotations


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities: no link, mention or formatting survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
