"""The summary as one Slack reply: Block Kit within Slack's limits, every outside word inert.

    header     "Summary of incident #N: <title>" (plain text, 150 characters at most)
    context    status · severity · service
    section    one per part, in the document's order (3000 characters each, split by lines;
               at most ``SECTION_LINES_MAX`` lines a part)
    section    the timeline last, cut to ``TIMELINE_MAX`` events and to what fits in 50 blocks,
               then "…and N more in `opsbot incidents export <id>`"
    context    the footer

Escaping: opsbot's own words go through ``bot.render.blocks.escape``; data (event texts, notes,
names from alerts, model output) through ``safe_mrkdwn`` with the timeline's actors as the only
users that may be mentioned. So ``<@U…>`` of a person who acted on the incident is a mention;
``<!channel>``, ``@here``, a foreign ``<@U…>`` or a link in someone's text is shown, inert.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.render.blocks import HEADER_LIMIT, SECTION_TEXT_LIMIT, Block, chunk_lines, clip
from bot.summary.doc import Document, Line, Section, Span
from bot.summary.model import USER_ID
from bot.summary.words import cites_text
from bot.text.mrkdwn import escape
from bot.text.slack_safe import safe_mrkdwn, safe_plain

MAX_BLOCKS = 50
TIMELINE_MAX = 40
SECTION_LINES_MAX = 25
TEXT_LIMIT = 1500  # the notification / fallback text


def span_mrkdwn(span: Span, actors: Collection[str]) -> str:
    if span.kind == "data":
        return safe_mrkdwn(span.value, allowed_users=actors, limit=SECTION_TEXT_LIMIT)
    if span.kind == "who":
        name = f"@{span.value}" if USER_ID.match(span.value) else span.value
        return safe_mrkdwn(name, allowed_users=actors, limit=200)
    if span.kind == "code":
        return f"`{escape(span.value)}`"
    return escape(span.value)


def line_mrkdwn(item: Line, actors: Collection[str], *, brackets: str = "[]") -> str:
    content = "".join(span_mrkdwn(s, actors) for s in item.spans)
    cites = cites_text(item.cites, brackets=brackets)
    if cites:
        content = f"{content} {cites}"
    return f"*{escape(item.label)}:* {content}" if item.label else content


def sentence_mrkdwn(item: Line, actors: Collection[str], *, brackets: str) -> str:
    body = "".join(span_mrkdwn(s, actors) for s in item.spans).strip()
    cites = cites_text(item.cites, brackets=brackets)
    end = "" if body.endswith(("?", "!")) else "."
    body = body.removesuffix(".")
    return f"{body} {cites}{end}" if cites else f"{body}{end}"


def _sections(title: str, lines: Sequence[str]) -> list[Block]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in chunk_lines([f"*{escape(title)}*", *lines], SECTION_TEXT_LIMIT)
    ]


def _part(section: Section, actors: Collection[str]) -> list[Block]:
    brackets = "()" if section.by else "[]"
    if section.prose:
        sentences = [sentence_mrkdwn(s, actors, brackets=brackets) for s in section.lines]
        paragraph = " ".join(sentences)
        if len(paragraph) + len(section.title) + 4 <= SECTION_TEXT_LIMIT:
            return _sections(section.title, [paragraph])
        return _sections(section.title, sentences)
    lines = [f"• {line_mrkdwn(s, actors, brackets=brackets)}" for s in section.lines]
    if len(lines) > SECTION_LINES_MAX:
        more = len(lines) - SECTION_LINES_MAX
        lines = [*lines[:SECTION_LINES_MAX], f"…and {more} more"]
    return _sections(section.title, lines)


def _timeline(
    section: Section, actors: Collection[str], room: int, incident_id: int
) -> list[Block]:
    lines = [line_mrkdwn(s, actors) for s in section.lines]
    shown = min(len(lines), TIMELINE_MAX)
    while True:
        kept = lines[:shown]
        if shown < len(lines):
            kept.append(
                f"…and {len(lines) - shown} more in `opsbot incidents export {incident_id}`"
            )
        blocks = _sections(section.title, kept)
        if len(blocks) <= room or shown == 0:
            return blocks if len(blocks) <= room else []
        shown -= max(1, shown // 4)


def render(doc: Document, actors: Collection[str]) -> tuple[str, list[Block]]:
    """``(text, blocks)`` of the summary reply; ``actors``: the timeline's Slack user IDs."""
    header = safe_plain(f"Summary of incident #{doc.incident_id}: {doc.title}", HEADER_LIMIT)
    meta = " · ".join(line_mrkdwn(m, actors) for m in doc.meta)
    head: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(meta, 3000)}]},
    ]
    foot: list[Block] = [
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(escape(doc.footer), 3000)}],
        }
    ]
    body: list[Block] = []
    timeline: Section | None = None
    for section in doc.sections:
        if section.key == "timeline":
            timeline = section
        else:
            body += _part(section, actors)
    room = MAX_BLOCKS - len(head) - len(body) - len(foot)
    if timeline is not None and room > 0:
        body += _timeline(timeline, actors, room, doc.incident_id)
    blocks = [*head, *body, *foot][:MAX_BLOCKS]
    return fallback_text(doc), blocks


def fallback_text(doc: Document) -> str:
    """The notification text: the title and what happened, in one paragraph, mentioning no
    one (the blocks carry the mentions)."""
    title = safe_mrkdwn(doc.title, allowed_users=(), limit=200)
    text = f"Summary of incident #{doc.incident_id}: {title}"
    first = doc.sections[0] if doc.sections else None
    if first is not None and first.prose:
        brackets = "()" if first.by else "[]"
        story = " ".join(sentence_mrkdwn(s, (), brackets=brackets) for s in first.lines)
        text = f"{text} — {story}"
    return clip(text, TEXT_LIMIT)
