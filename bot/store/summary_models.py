"""The post-incident summary of each incident (bot/summary writes it, the outbox posts it).

incident_summary   one row per incident: the current Markdown (template first, the LLM's
                   narrative once it passed the citation check), the Slack message it was posted
                   as, and where the LLM step stands. A new version replaces the old in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class SummarySource:
    TEMPLATE = "template"
    LLM = "llm"


class SummaryState:
    QUEUED = "queued"  # asked for (on resolve, or by /ops summary): the template is to be written
    READY = "ready"  # written and queued for Slack


class LLMState:
    OFF = "off"  # no LLM configured: the template is the summary
    PENDING = "pending"  # the template is out; the LLM's version is being written
    DONE = "done"  # the LLM version replaced the template (the parts that passed the check)
    FALLBACK = "fallback"  # the LLM gave nothing usable: the template stays (see llm_error)


class IncidentSummary(SQLModel, table=True):
    __tablename__ = "incident_summary"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", unique=True)
    state: str = Field(default=SummaryState.QUEUED, max_length=16, index=True)
    # Bumped on every request: an LLM answer for an older generation is thrown away.
    generation: int = 1
    source: str = Field(default=SummarySource.TEMPLATE, max_length=16)
    markdown: str = Field(default="", sa_column=Column(Text, nullable=False))
    # The same summary as Slack shows it (mrkdwn text and Block Kit), rendered with the Markdown.
    slack_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    slack_blocks: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The LLM's parts that passed the check, with their citations (timeline event ids).
    narrative: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    llm_state: str = Field(default=LLMState.OFF, max_length=16)
    llm_error: str | None = Field(default=None, sa_column=Column(Text))
    llm_tokens: int = 0
    final: bool = False  # written for the resolved incident (not a "so far" summary)
    channel: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=32)  # the reply it was posted as
    requested_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
