"""The "Declare an incident" form (a Slack modal): title, service (from the catalog), severity,
description, and whether to page on-call. Opened by ``/ops declare`` and by the message shortcut
"Declare incident from this message", which quotes the message (the quote travels in the view's
``private_metadata`` and is shown in the form). ``read_submission`` reads a submitted form back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block as SlackBlock
from slack_sdk.models.blocks import (
    CheckboxesElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.render.blocks import clip, mrkdwn_context, mrkdwn_section
from bot.text.mrkdwn import escape

DECLARE_VIEW = "opsbot_declare"
TITLE, SERVICE, SEVERITY, DESCRIPTION, PAGE = "title", "service", "severity", "description", "page"
TITLE_LIMIT = 200
DESCRIPTION_LIMIT = 3000
QUOTE_LIMIT = 2000  # within private_metadata's 3000 characters, with its JSON around it
MAX_OPTIONS = 100
NO_SERVICE = "-"


@dataclass(frozen=True)
class Quote:
    """The message an incident is declared from."""

    text: str
    author: str | None
    link: str | None  # the message's permalink, when the team's domain is known


@dataclass(frozen=True)
class Submitted:
    title: str
    service: str | None
    severity: str
    description: str
    page: bool
    quote: Quote | None


def declare_view(
    services: Sequence[str], severities: Sequence[str], quote: Quote | None = None
) -> dict[str, Any]:
    """The modal, as the JSON ``views.open`` takes."""
    metadata = ""
    if quote is not None:
        quote = Quote(clip(quote.text, QUOTE_LIMIT), quote.author, quote.link)
        metadata = json.dumps({"quote": [quote.text, quote.author, quote.link]})
        if len(metadata) > 3000:  # a very long link: keep the text, drop the link
            quote = Quote(quote.text, quote.author, None)
            metadata = json.dumps({"quote": [quote.text, quote.author, None]})
    blocks: list[SlackBlock] = []
    if quote is not None:
        blocks.append(mrkdwn_section("> " + escape(quote.text).replace("\n", "\n> ")))
        blocks.append(mrkdwn_context("This message is quoted in the incident's thread."))
    first_line = quote.text.strip().splitlines()[0] if quote and quote.text.strip() else None
    blocks.append(
        InputBlock(
            block_id=TITLE,
            label=PlainTextObject(text="Title"),
            element=PlainTextInputElement(
                action_id=TITLE,
                max_length=TITLE_LIMIT,
                initial_value=clip(first_line, TITLE_LIMIT) if first_line else None,
                placeholder=PlainTextObject(text="fraud precision looks off"),
            ),
        )
    )
    service_options = [Option(value=NO_SERVICE, text=PlainTextObject(text="No service"))] + [
        Option(value=name, text=PlainTextObject(text=clip(name, 75)))
        for name in sorted(services)[: MAX_OPTIONS - 1]
        if len(name) <= 150
    ]
    blocks.append(
        InputBlock(
            block_id=SERVICE,
            label=PlainTextObject(text="Service"),
            optional=True,
            element=StaticSelectElement(
                action_id=SERVICE,
                placeholder=PlainTextObject(text="Which service?"),
                options=service_options,
            ),
        )
    )
    levels = [Option(value=s, text=PlainTextObject(text=s)) for s in severities[:MAX_OPTIONS]]
    blocks.append(
        InputBlock(
            block_id=SEVERITY,
            label=PlainTextObject(text="Severity"),
            element=StaticSelectElement(
                action_id=SEVERITY, options=levels, initial_option=levels[-1]
            ),
        )
    )
    blocks.append(
        InputBlock(
            block_id=DESCRIPTION,
            label=PlainTextObject(text="Description"),
            optional=True,
            element=PlainTextInputElement(
                action_id=DESCRIPTION, multiline=True, max_length=DESCRIPTION_LIMIT
            ),
        )
    )
    page = Option(value="page", text=PlainTextObject(text="Page the service's on-call"))
    blocks.append(
        InputBlock(
            block_id=PAGE,
            label=PlainTextObject(text="Paging"),
            optional=True,
            element=CheckboxesElement(action_id=PAGE, options=[page]),
        )
    )
    view = View(
        type="modal",
        callback_id=DECLARE_VIEW,
        title=PlainTextObject(text="Declare an incident"),
        submit=PlainTextObject(text="Declare"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
        private_metadata=metadata or None,
    )
    declared: dict[str, Any] = view.to_dict()
    return declared


def read_submission(view: dict[str, Any]) -> Submitted:
    """The form's values from a ``view_submission``'s ``view``."""
    values: dict[str, Any] = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get(block)
        return found if isinstance(found, dict) else {}

    service = (field(SERVICE).get("selected_option") or {}).get("value")
    severity = (field(SEVERITY).get("selected_option") or {}).get("value")
    pages = field(PAGE).get("selected_options") or []
    quote = None
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    raw = meta.get("quote") if isinstance(meta, dict) else None
    if isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str):
        quote = Quote(raw[0], raw[1] if isinstance(raw[1], str) else None, raw[2] or None)
    return Submitted(
        title=str(field(TITLE).get("value") or "").strip(),
        service=None if service in (None, NO_SERVICE) else str(service),
        severity=str(severity or ""),
        description=str(field(DESCRIPTION).get("value") or ""),
        page=any(isinstance(p, dict) and p.get("value") == "page" for p in pages),
        quote=quote,
    )
