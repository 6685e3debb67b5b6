"""The console transport: incident messages as readable text on a terminal, no Slack needed."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from itertools import count
from pathlib import Path
from typing import Any, TextIO

_SLACK_DATE = re.compile(r"<!date\^\d+\^[^|]*\|([^>]*)>")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
DEFAULT_FILES_DIR = Path("opsbot-files")


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

    def __init__(self, out: TextIO | None = None, files_dir: Path | None = None) -> None:
        self._out = out
        self._ts = count(1)
        self._file_ids = count(1)
        self._lock = threading.Lock()
        self._roots: dict[str, int] = {}
        self.files_dir = files_dir if files_dir is not None else DEFAULT_FILES_DIR

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

    async def upload_file(
        self,
        channel: str,
        thread_ts: str,
        filename: str,
        content: bytes,
        *,
        title: str,
        alt_text: str,
    ) -> str:
        """Write the file into ``files_dir`` (created on first use) and print where it went."""
        path, file_id = await asyncio.to_thread(self._save, filename, content)
        self._write(f"[{channel}] ↳ {thread_ts} | 📎 {title} → {path} ({len(content)} bytes)")
        return file_id

    def _save(self, filename: str, content: bytes) -> tuple[Path, str]:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        name = _UNSAFE.sub("_", Path(filename).name).strip("._") or "file"
        stem, dot, suffix = name.rpartition(".")
        stem, suffix = (stem, dot + suffix) if stem else (name, "")
        while True:  # never overwrite: an earlier run may have left the same name
            file_id = f"FCONSOLE{next(self._file_ids):04d}"
            path = self.files_dir / f"{stem}-{file_id}{suffix}"
            try:
                with path.open("xb") as out:
                    out.write(content)
            except FileExistsError:
                continue
            return path, file_id

    async def workspace_url(self) -> str | None:
        return None  # a terminal has no links to messages

    async def find_posted(
        self, channel: str, outbox_id: int, *, thread_ts: str | None, oldest: float
    ) -> str | None:
        return None  # a terminal keeps no history: an in-flight line is printed again

    async def aclose(self) -> None:
        return None
