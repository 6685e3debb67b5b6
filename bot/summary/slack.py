"""The summary as one Slack reply: Block Kit within Slack's limits, every outside word inert.

    header     "Summary of incident #N: <title>" (plain text, 150 characters at most)
    context    status · severity · service
    section    one per part, in the document's order (3000 characters each, split by lines;
               at most ``SECTION_LINES_MAX`` lines a part)
    section    the timeline last, cut to ``TIMELINE_MAX`` events and to what fits in 50 blocks,
               then "…and N more in `opsbot incidents export <id>`"
    context    the footer

The follow-ups that are tracked items get controls right after their part: an ``actions``
block with a Done button per open item (``FOLLOW_UP_DONE_ACTION``, the item's number as its
value; 25 at most, Slack's limit) and a ``context`` line of the done ones (✓ and who). Room for
both is kept, so ``with_follow_up_controls`` can swap them in the stored blocks when an item
changes and the message still fits in 50 blocks.

Escaping: opsbot's own words go through ``bot.render.blocks.escape``; data (event texts, notes,
names from alerts, model output) through ``safe_mrkdwn`` with the timeline's actors as the only
users that may be mentioned. So ``<@U…>`` of a person who acted on the incident is a mention;
``<!channel>``, ``@here``, a foreign ``<@U…>`` or a link in someone's text is shown, inert.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.render.blocks import (
    BUTTON_TEXT_LIMIT,
    HEADER_LIMIT,
    SECTION_TEXT_LIMIT,
    Block,
    chunk_lines,
    clip,
)
from bot.summary.doc import Document, Line, Section, Span, data, who
from bot.summary.model import USER_ID, Tracked
from bot.summary.words import cites_text
from bot.text.mrkdwn import escape
from bot.text.slack_safe import safe_mrkdwn, safe_plain

MAX_BLOCKS = 50
TIMELINE_MAX = 40
SECTION_LINES_MAX = 25
TEXT_LIMIT = 1500  # the notification / fallback text
# A follow-up's Done button: ``_<n>`` is added, as Slack wants action_ids unique in a block.
FOLLOW_UP_DONE_ACTION = "opsbot_followup_done"
FOLLOW_UPS_OPEN = "opsbot_followups_open"  # block_id of the buttons
FOLLOW_UPS_DONE = "opsbot_followups_done"  # block_id of the done line
CONTROL_BLOCKS = (FOLLOW_UPS_OPEN, FOLLOW_UPS_DONE)
MAX_BUTTONS = 25  # elements of one actions block
DONE_TEXT_MAX = 80


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


def follow_up_controls(items: Sequence[Tracked], actors: Collection[str]) -> list[Block]:
    """The Done buttons of the open items and the line of the done ones (two blocks at most)."""
    ordered = sorted(items, key=lambda t: t.id)
    waiting = [t for t in ordered if not t.done]
    blocks: list[Block] = []
    if waiting:
        buttons: list[Block] = [
            {
                "type": "button",
                "action_id": f"{FOLLOW_UP_DONE_ACTION}_{i}",
                "text": {
                    "type": "plain_text",
                    "text": safe_plain(f"Done #{t.id}: {data(t.text).value}", BUTTON_TEXT_LIMIT),
                },
                "value": str(t.id),
            }
            for i, t in enumerate(waiting[:MAX_BUTTONS])
        ]
        blocks.append({"type": "actions", "block_id": FOLLOW_UPS_OPEN, "elements": buttons})
    lines = [
        f"✓ #{t.id} {span_mrkdwn(data(t.text, DONE_TEXT_MAX), actors)}"
        + (f" — done by {span_mrkdwn(who(t.done_by), actors)}" if t.done_by else "")
        for t in ordered
        if t.done
    ]
    if len(waiting) > MAX_BUTTONS:
        more = len(waiting) - MAX_BUTTONS
        lines.append(f"…and {more} more open: `/ops followup done <number>`")
    if lines:
        text = clip("\n".join(lines), SECTION_TEXT_LIMIT)
        blocks.append(
            {
                "type": "context",
                "block_id": FOLLOW_UPS_DONE,
                "elements": [{"type": "mrkdwn", "text": text}],
            }
        )
    return blocks


def with_follow_up_controls(
    blocks: Sequence[Block], controls: Sequence[Block]
) -> list[Block] | None:
    """``blocks`` (a rendered summary) with its follow-up controls swapped for ``controls``;
    None when it has none to swap (it was drawn before any item was tracked)."""
    at = [i for i, b in enumerate(blocks) if b.get("block_id") in CONTROL_BLOCKS]
    if not at:
        return None
    kept = [b for b in blocks if b.get("block_id") not in CONTROL_BLOCKS]
    return [*kept[: at[0]], *controls, *kept[at[0] :]][:MAX_BLOCKS]


def render(
    doc: Document, actors: Collection[str], tracked: Sequence[Tracked] = ()
) -> tuple[str, list[Block]]:
    """``(text, blocks)`` of the summary reply; ``actors``: the timeline's Slack user IDs;
    ``tracked``: the follow-ups that are items (their controls)."""
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
    controls = follow_up_controls(tracked, actors)
    for section in doc.sections:
        if section.key == "timeline":
            timeline = section
        else:
            body += _part(section, actors)
            if section.key == "follow_ups":
                body += controls
    # Room for both control blocks, whichever a redraw needs.
    spare = len(CONTROL_BLOCKS) - len(controls) if tracked else 0
    room = MAX_BLOCKS - len(head) - len(body) - len(foot) - spare
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
