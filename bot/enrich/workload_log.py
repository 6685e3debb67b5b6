"""The last lines a crashed container's previous instance wrote, fit to show.

Cluster data, never instructions: secrets are redacted (bot/text/untrusted.py ``redact``) on the
whole text *before* it is bounded, so a cut cannot leave half a secret showing; terminal colours
and control characters go; then the end is kept (the crash is at the end): at most
``LOG_TAIL_LINES`` lines of ``LOG_LINE_CHARS`` and ``LOG_CHARS`` in all. bot/render/workload.py
makes it inert Slack text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.enrich.workload_events import clip_text
from bot.text.untrusted import redact

# What is asked of the API server: limitBytes keeps the *first* bytes of the last tailLines
# lines, so ask for no more lines than are shown, or a long line could push out the crash.
LOG_TAIL_LINES = 20
LOG_LIMIT_BYTES = 32 * 1024
LOG_LINE_CHARS = 300
LOG_CHARS = 2400

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class LogExcerpt:
    """The last lines a container's previous instance wrote, redacted and bounded."""

    pod: str
    container: str
    lines: tuple[str, ...]
    cut: bool  # earlier lines (or the end, past the byte limit) were left out


def log_excerpt(pod: str, container: str, text: str, *, cut: bool = False) -> LogExcerpt:
    """The end of ``text``, redacted, without terminal colours or control characters, at most
    ``LOG_TAIL_LINES`` lines of ``LOG_LINE_CHARS`` and ``LOG_CHARS`` in all."""
    lines = [
        clip_text(
            _CONTROL.sub("", _ANSI.sub("", line)).replace("\t", "    ").rstrip(), LOG_LINE_CHARS
        )
        for line in redact(text).splitlines()
    ]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > LOG_TAIL_LINES:
        lines, cut = lines[-LOG_TAIL_LINES:], True
    while lines and sum(len(line) + 1 for line in lines) > LOG_CHARS:
        lines, cut = lines[1:], True
    return LogExcerpt(pod, container, tuple(lines), cut)
