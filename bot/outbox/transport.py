"""The seam between the outbox and a chat system: Slack, or the console."""

from __future__ import annotations

from typing import Any, Protocol


class ChatTransport(Protocol):
    """Send and edit messages. Errors are ``bot.errors.TransportError``."""

    name: str

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        outbox_ids: list[int] | None = None,
    ) -> str:
        """Post a message; return its ``ts``. ``outbox_ids`` are tagged on the message so a
        restart can find out whether a post that was in flight actually landed."""
        ...

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]
    ) -> None: ...

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
        """Upload a file (a chart PNG) into a thread, shared in ``channel``; return its file id.

        On Slack this is the ``files_upload_v2`` flow: files.getUploadURLExternal, the upload,
        files.completeUploadExternal."""
        ...

    async def find_posted(
        self, channel: str, outbox_id: int, *, thread_ts: str | None, oldest: float
    ) -> str | None:
        """The ``ts`` of a message tagged with ``outbox_id``, if one landed; None if not."""
        ...

    async def workspace_url(self) -> str | None:
        """The workspace's URL (``https://team.slack.com/``), where links to messages point;
        None where messages have no links (the console)."""
        ...

    async def aclose(self) -> None:
        """Release connections (at shutdown)."""
        ...
