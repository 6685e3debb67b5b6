"""Reading the Markdown opsbot writes (incident summaries), for the tests that check it."""

from __future__ import annotations


def section(markdown: str, title: str) -> list[str]:
    """The lines of one ``## title`` section, without blank lines."""
    lines = markdown.splitlines()
    start = lines.index(f"## {title}") + 1
    out = []
    for text in lines[start:]:
        if text.startswith("## ") or text.startswith("_Written"):
            break
        if text:
            out.append(text)
    return out
