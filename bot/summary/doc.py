"""A summary as a renderer-neutral document, so Markdown and Slack say exactly the same things.

    Document   title, meta (labelled values under the title), sections, footer
    └── Section    key ("impact", "timeline", ...), title, lines; ``prose``: a paragraph of
        │          sentences rather than a list; ``by``: the model that wrote it (LLM parts)
        └── Line       label, spans, cites (timeline event ids)
            └── Span   text: opsbot's own words · data: text from outside or from a model,
                       made inert by each renderer · who: an actor (a Slack mention only when
                       a timeline actor) · code: a name shown as code

Untrusted text enters only as ``data`` spans, whitespace-collapsed and capped here, so both
renderings cut it at the same place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

SpanKind = Literal["text", "data", "who", "code"]
DATA_LIMIT = 300
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Span:
    kind: SpanKind
    value: str


def text(value: str) -> Span:
    return Span("text", value)


def data(value: str, limit: int = DATA_LIMIT) -> Span:
    """Untrusted text on one line, at most ``limit`` characters (cut with "…")."""
    flat = _SPACE.sub(" ", value).strip()
    return Span("data", flat if len(flat) <= limit else flat[: limit - 1] + "…")


def who(actor: str) -> Span:
    return Span("who", actor)


def code(name: str) -> Span:
    return Span("code", name.replace("`", "'"))


@dataclass(frozen=True)
class Line:
    spans: tuple[Span, ...]
    cites: tuple[int, ...] = ()
    label: str | None = None


def line(*spans: Span | str, cites: Iterable[int] = (), label: str | None = None) -> Line:
    """A line from spans; a plain ``str`` is opsbot's own text."""
    parts = tuple(text(s) if isinstance(s, str) else s for s in spans)
    return Line(parts, tuple(sorted(set(cites))), label)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    lines: tuple[Line, ...]
    prose: bool = False
    by: str | None = None  # the model that wrote this part; None for the template


@dataclass(frozen=True)
class Document:
    incident_id: int
    title: str  # the incident's title: untrusted
    meta: tuple[Line, ...]  # labelled values shown under the title
    sections: tuple[Section, ...]
    footer: str  # opsbot's own words

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)
