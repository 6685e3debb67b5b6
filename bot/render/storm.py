"""Block Kit for an alert storm's one message: every new incident of the channel named at once,
each line a link to its thread once that thread is open. A pure function of what it is given
(``bot.outbox.kinds.storm`` reads the rows).

    🚨 Alert storm: 20 new incidents                          (header)
    • <link|#12> *Model latency high* — svc-3 · critical    (one line per incident; a link once
    • #13 *Drift on scorer* — svc-4 · warning · _thread opening…_      its thread is open)
    7 of 20 threads open; the rest open here at Slack's pace (context)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block as SlackBlock
from slack_sdk.models.blocks import HeaderBlock, PlainTextObject

from bot.render.blocks import (
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    Block,
    chunk_lines,
    clip,
    mrkdwn_context,
    mrkdwn_section,
    to_dicts,
)
from bot.text.mrkdwn import escape

STORM_BLOCK = "opsbot_storm"  # the header's block_id: how a reader tells a storm message apart
TITLE_LIMIT = 150
TEXT_NUMBERS = 40  # incident numbers in the notification text; the blocks list them all


@dataclass(frozen=True)
class StormLine:
    """One incident as the storm message names it."""

    number: int
    title: str
    service: str | None
    severity: str | None
    thread_url: str | None = None  # its thread, once open and the workspace's URL is known
    open: bool = False  # its thread is open (with or without a link)
    failed: bool = False  # Slack refused its root for good


def storm_message(lines: Sequence[StormLine], *, done: bool) -> tuple[str, list[Block]]:
    """The storm message: a header, one line per incident, and how far the threads are."""
    total = len(lines)
    opened = sum(1 for line in lines if line.open)
    failed = sum(1 for line in lines if line.failed)
    noun = "incident" if total == 1 else "incidents"
    header = f":rotating_light: Alert storm: {total} new {noun}"
    numbers = ", ".join(f"#{line.number}" for line in lines[:TEXT_NUMBERS])
    if total > TEXT_NUMBERS:
        numbers += f" and {total - TEXT_NUMBERS} more"
    if done:
        progress = (
            f"All {opened} threads are open."
            if not failed
            else (f"{opened} threads are open; {failed} could not be posted.")
        )
    else:
        progress = (
            f"{opened} of {total} threads open; the rest open here at Slack's pace "
            "(about one a second)."
        )
    text = f"Alert storm: {total} new {noun} ({numbers}). {progress}"
    chunks = chunk_lines([storm_line(line) for line in lines], SECTION_TEXT_LIMIT)
    room = MAX_BLOCKS - 2  # the header and the context
    if len(chunks) > room:
        chunks = chunks[: room - 1]
        listed = sum(chunk.count("\n") + 1 for chunk in chunks)
        chunks.append(f"…and {total - listed} more")
    sections = [mrkdwn_section(chunk) for chunk in chunks]
    blocks: list[SlackBlock] = [
        HeaderBlock(block_id=STORM_BLOCK, text=PlainTextObject(text=clip(header, HEADER_LIMIT))),
        *sections,
        mrkdwn_context(progress),
    ]
    return text, to_dicts(blocks)


def storm_line(line: StormLine) -> str:
    """``• #12 *title* — service · severity``, the number a link to the thread once open."""
    number = f"#{line.number}"
    if line.thread_url:
        number = f"<{line.thread_url}|{number}>"
    facts = " · ".join(escape(" ".join(v.split())) for v in (line.service, line.severity) if v)
    title = " ".join(line.title.split())  # one line per incident
    text = f"• {number} *{escape(clip(title, TITLE_LIMIT))}*"
    if facts:
        text += f" — {facts}"
    if line.failed:
        text += " · _could not be posted_"
    elif not line.open:
        text += " · _thread opening…_"
    elif not line.thread_url:
        text += " · thread open"
    return text


def thread_url(workspace_url: str, channel: str, ts: str) -> str:
    """A message's permalink as Slack builds it (``chat.getPermalink``'s answer for a message at
    the top of a channel): ``https://team.slack.com/archives/C123/p1700000000123456``."""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
