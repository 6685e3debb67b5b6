"""The post-incident summary as the thread tests read it: the message in the thread, and the
stored row behind it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.store.summary_models import IncidentSummary
from tests.fakes.slack.api import SlackEmulator


def summary_messages(slack: SlackEmulator, channel: str, incident: int = 1) -> list[dict[str, Any]]:
    """The summary replies of incident ``incident`` in ``channel``, as Slack shows them now."""
    return [
        m
        for m in slack.messages(channel)
        if m["thread_ts"] and m["text"].startswith(f"Summary of incident #{incident}")
    ]


def stored_summary(engine: Engine) -> IncidentSummary | None:
    """The one incident's summary row, or None before it is written."""
    with Session(engine) as s:
        return s.exec(select(IncidentSummary)).first()
