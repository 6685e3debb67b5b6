"""The Slack Web API adapter: the only place the outbox meets ``slack_sdk``.

Retries are the outbox's job (it survives restarts), so the client itself retries nothing;
errors come back as ``TransportError`` saying whether a retry can help and after how long.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from bot.clients.retry_after import retry_after_s
from bot.errors import TransportError
from bot.metrics import Metrics

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

METADATA_EVENT = "opsbot_outbox"
# Slack error codes that a retry can fix; anything else (channel_not_found, invalid_blocks,
# not_in_channel, invalid_auth, ...) will fail the same way again.
RETRYABLE_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
}
# files_upload_v2 POSTs the bytes to an upload URL itself and reports a failure as
# SlackRequestError("Failed to upload a file (status: 503, body: ...)"). A retry asks for a new
# URL, so an expired or used one (404, 408, 410) is worth a retry as well as a 429 or a 5xx.
_UPLOAD_FAILED = re.compile(r"^Failed to upload a file \(status: (\d+)")
RETRYABLE_UPLOAD_STATUSES = {404, 408, 410, 429}


class SlackWebTransport:
    name = "slack"

    def __init__(self, client: AsyncWebClient, metrics: Metrics | None = None) -> None:
        self.client = client
        self.metrics = metrics
        self._workspace_url: str | None = None

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call ``method`` through the SDK's own method (it picks JSON or form encoding)."""
        import aiohttp  # loaded with the client (make_web_client): a lookup here
        from slack_sdk.errors import SlackApiError, SlackRequestError

        started = time.perf_counter()
        outcome = "ok"
        sdk_method = getattr(self.client, method.replace(".", "_"))
        try:
            response = await sdk_method(**kwargs)
            return dict(response.data) if isinstance(response.data, dict) else {}
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error", "") if isinstance(exc.response.data, dict) else ""
            detail = str(error or exc)
            step = str(getattr(exc.response, "api_url", "")).rsplit("/", 1)[-1]
            if error and step and step != method:  # a step of a flow such as files.upload_v2
                detail = f"{error} (in {step})"
            retry_after: float | None = None
            if status == 429:
                outcome = "ratelimited"
                seconds = retry_after_s(exc.response.headers.get("Retry-After"))
                retry_after = 1.0 if seconds is None else seconds
            else:
                outcome = "error"
            raise TransportError(
                "slack",
                method,
                status,
                detail,
                retryable=status == 429 or status >= 500 or error in RETRYABLE_ERRORS,
                retry_after=retry_after,
            ) from exc
        except SlackRequestError as exc:
            # Refused by the SDK itself (bad arguments: final), or files_upload_v2's upload step.
            found = _UPLOAD_FAILED.match(str(exc))
            upload_status = int(found.group(1)) if found else None
            outcome = "ratelimited" if upload_status == 429 else "error"
            raise TransportError(
                "slack",
                method,
                upload_status,
                str(exc),
                retryable=upload_status is not None
                and (upload_status >= 500 or upload_status in RETRYABLE_UPLOAD_STATUSES),
            ) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            outcome = "unreachable"
            raise TransportError(
                "slack",
                method,
                None,
                f"{type(exc).__name__}: {exc}",
                retryable=True,
                ambiguous=True,
            ) from exc
        finally:
            if self.metrics:
                self.metrics.slack_calls.labels(method, outcome).inc()
                self.metrics.slack_latency.labels(method).observe(time.perf_counter() - started)

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        outbox_ids: list[int] | None = None,
    ) -> str:
        args: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks}
        if thread_ts:
            args["thread_ts"] = thread_ts
        if outbox_ids:
            args["metadata"] = {
                "event_type": METADATA_EVENT,
                "event_payload": {"outbox_ids": outbox_ids},
            }
        data = await self._call("chat.postMessage", **args)
        return str(data["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

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
        """Slack's v2 upload (files.getUploadURLExternal, the bytes, files.completeUploadExternal)
        into the thread; return the file id. A failure at any step raises ``TransportError``; a
        retry starts over with a new file id, and only a timeout (``ambiguous``) may leave the
        first one shared."""
        data = await self._call(
            "files.upload_v2",
            channel=channel,
            thread_ts=thread_ts,
            filename=filename,
            content=content,
            title=title,
            alt_txt=alt_text,
        )
        file = data.get("file") or next(iter(data.get("files") or []), None)
        if not isinstance(file, dict) or not file.get("id"):
            raise TransportError(
                "slack", "files.upload_v2", 200, "no file id in the answer", retryable=False
            )
        return str(file["id"])

    async def workspace_url(self) -> str | None:
        """The workspace's URL from ``auth.test`` (Tier 4), asked once: links to messages are
        built from it the way ``chat.getPermalink`` builds them, without a call per message."""
        if self._workspace_url is None:
            data = await self._call("auth.test")
            url = data.get("url")
            self._workspace_url = str(url) if isinstance(url, str) and url else None
        return self._workspace_url

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        """Publish ``user``'s App Home tab (views.publish: Tier 4, no scope needed)."""
        await self._call("views.publish", user_id=user, view=view)

    async def aclose(self) -> None:
        """Close the client's aiohttp session, where it keeps one (by default each call opens
        and closes its own)."""
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    async def find_posted(
        self, channel: str, outbox_id: int, *, thread_ts: str | None, oldest: float
    ) -> str | None:
        cursor: str | None = None
        for _ in range(20):  # at most 20 pages of 200 messages
            args: dict[str, Any] = {
                "channel": channel,
                "include_all_metadata": True,
                "limit": 200,
            }
            if cursor:
                args["cursor"] = cursor
            if thread_ts:
                data = await self._call("conversations.replies", ts=thread_ts, **args)
            else:
                data = await self._call("conversations.history", oldest=f"{oldest:.6f}", **args)
            for message in data.get("messages", []):
                meta = message.get("metadata") or {}
                if meta.get("event_type") != METADATA_EVENT:
                    continue
                if outbox_id in (meta.get("event_payload") or {}).get("outbox_ids", []):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None


def make_web_client(token: str, base_url: str, timeout_s: float) -> AsyncWebClient:
    """The SDK's async client; aiohttp (~0.2 s to import) loads with it, only where Slack is
    configured."""
    from slack_sdk.web.async_client import AsyncWebClient

    if not base_url.endswith("/"):
        base_url += "/"
    return AsyncWebClient(token=token, base_url=base_url, timeout=int(max(1, timeout_s)))
