"""The console transport: incident messages as readable text on a terminal, no Slack needed."""

from __future__ import annotations

import re
import sys
import threading
from itertools import count
from typing import Any, TextIO

_SLACK_DATE = re.compile(r"<!date\^\d+\^[^|]*\|([^>]*)>")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")


def plain(mrkdwn: str) -> str:
    text = _SLACK_DATE.sub(r"\1", mrkdwn)
    text = _SLACK_LINK.sub(r"\2 (\1)", text)
    text = _BOLD.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_blocks(blocks: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [title, "=" * min(len(title), 78)]
        elif kind == "section":
            if "text" in block:
                lines += plain(block["text"]["text"]).splitlines()
            for f in block.get("fields", []):
                # "*Status*\nfiring" reads as "Status: firing" on a terminal.
                lines.append("  " + plain(f["text"]).replace("\n", ": ", 1).replace("\n", " "))
        elif kind == "context":
            lines.append("  " + "  ".join(plain(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            lines.append("-" * 40)
    return lines


class ConsoleTransport:
    name = "console"

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._ts = count(1)
        self._lock = threading.Lock()
        self._roots: dict[str, int] = {}

    def _write(self, text: str) -> None:
        out = self._out or sys.stdout
        with self._lock:
            out.write(text + "\n")
            out.flush()

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        outbox_ids: list[int] | None = None,
    ) -> str:
        ts = f"{next(self._ts)}.000000"
        body = render_blocks(blocks) or [text]
        if thread_ts is None:
            self._write("\n".join([f"[{channel}] new thread {ts}", *body, ""]))
        else:
            self._write("\n".join(f"[{channel}] ↳ {thread_ts} | {line}" for line in body))
        return ts

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        body = render_blocks(blocks) or [text]
        self._write("\n".join([f"[{channel}] updated {ts}", *body, ""]))

    async def find_posted(
        self, channel: str, outbox_id: int, *, thread_ts: str | None, oldest: float
    ) -> str | None:
        return None  # a terminal keeps no history: an in-flight line is printed again
