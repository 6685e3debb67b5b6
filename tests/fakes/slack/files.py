"""The Slack emulator's file upload: the v2 flow that ``slack_sdk``'s ``files_upload_v2`` runs.

1. ``files.getUploadURLExternal`` (``filename``, ``length``, optional ``alt_txt``,
   ``snippet_type``) answers ``{"ok": true, "upload_url": ..., "file_id": "F..."}``.
2. The client POSTs the bytes to ``upload_url`` (``/upload/v1/<file_id>.<ticket>`` here). The real
   SDK sends them as the raw body: ``WebClient`` through urllib (which labels them
   ``application/x-www-form-urlencoded``), ``AsyncWebClient`` through aiohttp; a multipart form
   with one file part is accepted too, as Slack's page allows. The answer is Slack's: HTTP 200,
   ``text/plain`` ``OK - <bytes received>``. No token: the URL itself is the credential.
3. ``files.completeUploadExternal`` (``files`` = JSON list of ``{id, title}``, ``channel_id`` or
   ``channels``, optional ``thread_ts``, ``initial_comment``) answers ``{"ok": true, "files":
   [file objects]}`` and shares the files: one message from the bot (``files``, ``upload: true``),
   a reply when ``thread_ts`` is given, so ``conversations.replies`` shows it.

What is checked. Slack's own errors: a bot token (``not_authed``, ``invalid_auth``,
``not_allowed_token_type``); ``missing_argument`` for a ``length`` of 0 or none,
``invalid_arguments`` for a bad ``length``/``filename``/``files``, ``alt_txt_too_large`` over 1000
characters; ``file_not_found`` for a file id never issued, or whose bytes were never uploaded;
``channel_not_found`` for a channel the bot is not in. Slack's pages name no error for the rest,
so these are the emulator's own, named in Slack's style:

- ``file_upload_size_mismatch``: the bytes uploaded are not the ``length`` announced;
- ``file_already_completed``: a second ``files.completeUploadExternal`` for one file (Slack: "This
  method can only be called once");
- ``thread_not_found``: ``thread_ts`` is not a parent message in that channel (Slack says "never
  use a reply's ts value"; chat.postMessage's error here is the same);
- ``invalid_arguments``: ``thread_ts`` without exactly one channel;
- the upload URL: HTTP 404 for a URL that was never issued (or a ticket used with another file's
  id), HTTP 410 for a second upload to the same URL.

Fault injection: ``files.getUploadURLExternal`` and ``files.completeUploadExternal`` take the
emulator's ``fail_next``/``rate_limit_next``/``delay_next`` like any Web API method; the upload
itself takes them under the name ``UPLOAD`` (``"upload"``), its failure answered with that status
and a plain-text body.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import mimetypes
import secrets
import struct
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.slack.args import ApiError, Json
from tests.fakes.slack.faults import FaultPlan
from tests.fakes.slack.methods import BOT_USER_ID, TEAM_ID, WebApiMethods

UPLOAD = "upload"  # the fault-injection and ``calls()`` name of the upload POST
MAX_ALT_TXT = 1000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def guess_mimetype(filename: str, content: bytes) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed
    if content.startswith(PNG_MAGIC):
        return "image/png"
    return "application/octet-stream"


def png_size(content: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk (Slack reports them as original_w/h)."""
    if len(content) < 24 or not content.startswith(PNG_MAGIC) or content[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", content[16:24])
    return int(width), int(height)


class FileApiMethods(WebApiMethods):
    """The files half of ``SlackEmulator`` (which sets every attribute declared here)."""

    _lock: Any  # threading.RLock
    _faults: FaultPlan
    _calls: list[Json]
    _stopping: asyncio.Event | None
    _uploads: dict[str, Json]  # file id -> the upload in progress, then the file
    _upload_seq: int
    url: str  # SlackEmulator's property: where the emulator listens

    def _handlers(self) -> dict[str, Callable[[Json], Json]]:
        return {
            **super()._handlers(),
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    # -- step 1: the URL ------------------------------------------------------------------

    def _get_upload_url(self, args: Json) -> Json:
        filename = args.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            raise ApiError("invalid_arguments")
        raw_length = str(args.get("length") or "").strip()
        if raw_length in ("", "0"):
            raise ApiError("missing_argument")
        if not raw_length.isdecimal():
            raise ApiError("invalid_arguments")
        alt_txt = args.get("alt_txt")
        if alt_txt is not None and len(str(alt_txt)) > MAX_ALT_TXT:
            raise ApiError("alt_txt_too_large")
        self._upload_seq += 1
        file_id = f"F0UP{self._upload_seq:07d}"
        ticket = secrets.token_urlsafe(12)
        self._uploads[file_id] = {
            "id": file_id,
            "ticket": ticket,
            "filename": filename,
            "length": int(raw_length),
            "alt_txt": None if alt_txt is None else str(alt_txt),
            "snippet_type": args.get("snippet_type"),
            "content": None,
            "completed": None,  # the file object, once completed
            "channels": [],
            "thread_ts": None,
            "ts": None,
        }
        return {
            "ok": True,
            "upload_url": f"{self.url}/upload/v1/{file_id}.{ticket}",
            "file_id": file_id,
        }

    # -- step 2: the bytes ----------------------------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id, _, ticket = request.match_info["key"].partition(".")
        arrived = time.monotonic()
        content_type = request.content_type
        if content_type == "multipart/form-data":
            form = await request.post()
            parts = [v for v in form.values() if isinstance(v, web.FileField)]
            body = parts[0].file.read() if len(parts) == 1 else None
        else:
            body = await request.read()
        with self._lock:
            delay, fault = self._faults.take(UPLOAD)
            upload = self._uploads.get(file_id)
            if fault is not None:
                status, text = fault.status, fault.error
            elif upload is None or not secrets.compare_digest(upload["ticket"], ticket):
                status, text = 404, "not_found"
            elif upload["content"] is not None or upload["completed"] is not None:
                status, text = 410, "upload_url_already_used"
            elif body is None:
                status, text = 400, "invalid_form_data"  # a multipart form without one file
            else:
                upload["content"] = body
                status, text = 200, f"OK - {len(body)}"
            self._calls.append(
                {
                    "method": UPLOAD,
                    "args": {"file_id": file_id, "bytes": None if body is None else len(body)},
                    "status": status,
                    "ok": status == 200,
                    "error": None if status == 200 else text,
                    "at": arrived,
                }
            )
        if delay > 0 and self._stopping is not None:
            with contextlib.suppress(TimeoutError):  # stop() cuts the delay short
                await asyncio.wait_for(self._stopping.wait(), delay)
        headers = {"Retry-After": str(fault.retry_after)} if fault and fault.retry_after else None
        return web.Response(status=status, text=text, headers=headers)

    # -- step 3: complete and share -------------------------------------------------------

    @staticmethod
    def _asked_files(args: Json) -> list[tuple[str, str | None]]:
        raw = args.get("files")
        try:
            asked = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise ApiError("invalid_arguments") from None
        if not isinstance(asked, list) or not asked:
            raise ApiError("invalid_arguments")
        found: list[tuple[str, str | None]] = []
        for item in asked:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ApiError("invalid_arguments")
            title = item.get("title")
            found.append((item["id"], str(title) if title else None))
        return found

    def _targets(self, args: Json) -> tuple[list[str], str | None]:
        if args.get("channel_id"):
            named = [str(args["channel_id"])]
        else:
            named = [c.strip() for c in str(args.get("channels") or "").split(",") if c.strip()]
        for channel in named:
            self._channel({"channel": channel})
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts is not None:
            if len(named) != 1:
                raise ApiError("invalid_arguments")
            parent = self._by_ts.get((named[0], thread_ts))
            if parent is None or parent["thread_ts"] is not None:
                raise ApiError("thread_not_found")
        return named, thread_ts

    def _complete_upload(self, args: Json) -> Json:
        asked = self._asked_files(args)
        uploads: list[tuple[Json, str | None]] = []
        if len({file_id for file_id, _ in asked}) != len(asked):
            raise ApiError("invalid_arguments")
        for file_id, title in asked:  # every check first: a refused call changes nothing
            upload = self._uploads.get(file_id)
            if upload is None or upload["content"] is None:
                raise ApiError("file_not_found")
            if upload["completed"] is not None:
                raise ApiError("file_already_completed")
            if len(upload["content"]) != upload["length"]:
                raise ApiError("file_upload_size_mismatch")
            uploads.append((upload, title))
        channels, thread_ts = self._targets(args)
        now = int(time.time())
        for upload, title in uploads:
            upload["completed"] = self._file_object(upload, title or upload["filename"], now)
            upload["channels"], upload["thread_ts"] = channels, thread_ts
        text = str(args.get("initial_comment") or "")
        for channel in channels:
            message: Json = {
                "channel": channel,
                "ts": self._next_ts(),
                "text": text,
                "blocks": [],
                "thread_ts": thread_ts,
                "metadata": None,
                "edits": 0,
                "posted_at": time.monotonic(),
                "broadcast": False,
                "edited_ts": None,
                "files": [upload["id"] for upload, _ in uploads],
            }
            self._channels[channel].append(message)
            self._by_ts[(channel, message["ts"])] = message
            if thread_ts is not None:
                self._threads[(channel, thread_ts)].append(message)
            for upload, _ in uploads:
                upload["ts"] = upload["ts"] or message["ts"]
                upload["posted_at"] = upload.get("posted_at") or message["posted_at"]
        return {"ok": True, "files": [self._file_json(u["id"]) for u, _ in uploads]}

    def _file_object(self, upload: Json, title: str, now: int) -> Json:
        content: bytes = upload["content"]
        name: str = upload["filename"]
        mimetype = guess_mimetype(name, content)
        filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        file: Json = {
            "id": upload["id"],
            "created": now,
            "timestamp": now,
            "name": name,
            "title": title,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": BOT_USER_ID,
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{upload['id']}/{name}",
            "url_private_download": (
                f"https://files.slack.com/files-pri/{TEAM_ID}-{upload['id']}/download/{name}"
            ),
            "permalink": f"https://opsbot-test.slack.com/files/{BOT_USER_ID}/{upload['id']}/{name}",
            "comments_count": 0,
            "is_starred": False,
            "shares": {},  # Slack shares asynchronously: the completion answer lists none yet
            "channels": [],
            "groups": [],
            "ims": [],
            "has_more_shares": False,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if upload["alt_txt"] is not None:
            file["alt_txt"] = upload["alt_txt"]
        size = png_size(content)
        if size is not None:
            file["original_w"], file["original_h"] = size
        return file

    def _file_json(self, file_id: str) -> Json:
        return copy.deepcopy(self._uploads[file_id]["completed"])

    def _render(self, m: Json, *, include_metadata: bool) -> Json:
        out = super()._render(m, include_metadata=include_metadata)
        if m.get("files"):
            out["files"] = [self._file_json(f) for f in m["files"]]
            out["upload"] = True
            out["display_as_bot"] = False
        return out

    # -- state for tests ------------------------------------------------------------------

    def files(self, channel: str | None = None) -> list[Json]:
        """Completed uploads, oldest first: ``id, channel, thread_ts, ts, filename, title,
        alt_text, mimetype, size, content`` (the exact bytes uploaded), ``posted_at``."""
        with self._lock:
            found = []
            for upload in self._uploads.values():
                file = upload["completed"]
                if file is None:
                    continue
                first = upload["channels"][0] if upload["channels"] else None
                if channel is not None and channel not in upload["channels"]:
                    continue
                found.append(
                    {
                        "id": upload["id"],
                        "channel": first,
                        "channels": list(upload["channels"]),
                        "thread_ts": upload["thread_ts"],
                        "ts": upload["ts"],
                        "filename": upload["filename"],
                        "title": file["title"],
                        "alt_text": upload["alt_txt"],
                        "mimetype": file["mimetype"],
                        "size": file["size"],
                        "content": upload["content"],
                        "posted_at": upload.get("posted_at"),  # time.monotonic(), first share
                    }
                )
            return found
