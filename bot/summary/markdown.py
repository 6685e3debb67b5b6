"""A summary ``Document`` as GitHub-flavoured Markdown, and outside text kept from breaking it.

One line per item (newlines collapsed), ``<`` and backticks escaped, ``](`` broken so no hidden
link or image forms, a leading block marker (``#``, ``>``, ``-``, ``1.``) escaped, and a Slack
mention ``<@U…>`` written ``@U…``.
"""

from __future__ import annotations

import re

from bot.summary.doc import Document, Line, Span, data
from bot.summary.model import USER_ID
from bot.summary.template import TITLE_LIMIT
from bot.summary.words import cites_text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^<>\n]*)?>")
_BLOCK_START = re.compile(r"^(?:(?P<mark>[#>+*=|_~-])|(?P<num>\d{1,9})(?P<end>[.)]))")


def md_inline(value: str) -> str:
    """Untrusted text as inline Markdown that cannot leave its line or open a code span."""
    value = _CONTROL.sub("", value).replace("\n", " ").replace("\r", " ")
    value = _MENTION.sub(r"@\1", value)
    value = value.replace("\\", "\\\\").replace("`", "\\`").replace("<", "&lt;")
    return value.replace("](", "]\\(")  # no [hidden](links) or ![images](...)


def md_block_safe(content: str) -> str:
    """Escape a block marker at the start of a line (a heading, quote, list, rule)."""
    match = _BLOCK_START.match(content)
    if match is None:
        return content
    if match.group("mark"):
        return "\\" + content
    end = match.end("num")
    return content[:end] + "\\" + content[end:]


def md_span(span: Span) -> str:
    if span.kind == "data":
        return md_inline(span.value)
    if span.kind == "who":
        return f"@{span.value}" if USER_ID.match(span.value) else md_inline(span.value)
    if span.kind == "code":
        return f"`{span.value}`"
    return span.value


def md_line(item: Line, *, brackets: str = "[]") -> str:
    content = "".join(md_span(s) for s in item.spans)
    cites = cites_text(item.cites, brackets=brackets)
    if cites:
        content = f"{content} {cites}"
    return f"**{item.label}:** {content}" if item.label else md_block_safe(content)


def md_sentence(item: Line, *, brackets: str) -> str:
    body = "".join(md_span(s) for s in item.spans).strip()
    cites = cites_text(item.cites, brackets=brackets)
    if body.endswith("."):
        body = body[:-1]
        return f"{body} {cites}." if cites else f"{body}."
    if body.endswith(("?", "!")):
        return f"{body} {cites}" if cites else body
    return f"{body} {cites}." if cites else f"{body}."


def markdown(doc: Document) -> str:
    """The document as GitHub-flavoured Markdown, ending in one newline."""
    title = md_inline(data(doc.title, TITLE_LIMIT).value)
    if title.endswith("#"):  # not a closing sequence of the heading
        title = title[:-1] + "\\#"
    out = [f"# Incident #{doc.incident_id}: {title}", ""]
    out.append(" · ".join(md_line(m) for m in doc.meta))
    for section in doc.sections:
        brackets = "()" if section.by else "[]"
        out += ["", f"## {section.title}", ""]
        if section.prose:
            sentences = " ".join(md_sentence(s, brackets=brackets) for s in section.lines)
            out.append(md_block_safe(sentences))
        else:
            out += [f"- {md_line(s, brackets=brackets)}" for s in section.lines]
    out += ["", f"_{md_inline(doc.footer)}_", ""]
    return "\n".join(out)
