"""The Slack emulator's Web API methods and its message store.

``auth.test``, ``chat.postMessage``, ``chat.update``, ``conversations.history``,
``conversations.replies`` and ``apps.connections.open``, as a mixin of ``SlackEmulator``: every
method runs with the emulator's lock held and works on its state (channels, threads, the
per-channel token buckets). Messages are rendered in Slack's shapes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from tests.fakes.slack.args import (
    ApiError,
    Json,
    RateLimited,
    decode_cursor,
    encode_cursor,
    page_limit,
    truthy,
    ts_bound,
    ts_str,
    ts_us,
)
from tests.fakes.slack.blocks import message_attachments, message_content
from tests.fakes.slack.socket import APP_ID, SocketModeServer

TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"


class WebApiMethods:
    """The Web API half of ``SlackEmulator`` (which sets every attribute declared here)."""

    bot_token: str
    app_token: str
    channel_rate: float | None
    channel_burst: int
    _channels: dict[str, list[Json]]  # ts order
    _by_ts: dict[tuple[str, str], Json]
    _threads: dict[tuple[str, str], list[Json]]  # replies, ts order
    _last_ts_us: int
    _buckets: dict[str, tuple[float, float]]  # channel -> (tokens, at)
    _post_times: dict[str, list[float]]
    _refusals: list[str]
    _socket: SocketModeServer
    _started_at: float
    _usergroups: dict[str, list[str]]

    def _handlers(self) -> dict[str, Callable[[Json], Json]]:
        """The methods served, by name (``files.py`` adds the files methods)."""
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "apps.connections.open": self._connections_open,
            "usergroups.users.list": self._usergroup_users,
        }

    def _dispatch(self, method: str, args: Json, token: str | None) -> Json:
        handler = self._handlers().get(method)
        if handler is None:
            raise ApiError("unknown_method")
        if not token:
            raise ApiError("not_authed")
        wanted, other = (
            (self.app_token, self.bot_token)
            if method == "apps.connections.open"
            else (self.bot_token, self.app_token)
        )
        if token == other:
            raise ApiError("not_allowed_token_type")
        if token != wanted:
            raise ApiError("invalid_auth")
        return handler(args)

    def _auth_test(self, args: Json) -> Json:
        return {
            "ok": True,
            "url": "https://opsbot-test.slack.com/",
            "team": "opsbot-test",
            "user": "opsbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _connections_open(self, args: Json) -> Json:
        return {"ok": True, "url": self._socket.url}

    def _usergroup_users(self, args: Json) -> Json:
        """``usergroups.users.list``: the member IDs of a user group (``S…``)."""
        group = args.get("usergroup")
        if not isinstance(group, str) or not group:
            raise ApiError("invalid_arguments")
        members = self._usergroups.get(group)
        if members is None:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(members)}

    def _channel(self, args: Json) -> str:
        channel = args.get("channel")
        if not isinstance(channel, str) or channel not in self._channels:
            raise ApiError("channel_not_found")
        return channel

    def _take_token(self, channel: str) -> None:
        now = time.monotonic()
        if self.channel_rate is None:
            return
        tokens, at = self._buckets.get(channel, (float(self.channel_burst), now))
        tokens = min(float(self.channel_burst), tokens + (now - at) * self.channel_rate)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            self._refusals.append(
                f"{channel}: chat.postMessage refused at t+{now - self._started_at:.3f}s "
                f"(rate {self.channel_rate}/s, burst {self.channel_burst})"
            )
            raise RateLimited(1)
        self._buckets[channel] = (tokens - 1.0, now)

    def _next_ts(self) -> str:
        us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = us
        return ts_str(us)

    def _post_message(self, args: Json) -> Json:
        channel = self._channel(args)
        self._take_token(channel)
        blocks, metadata = message_content(args)
        text = str(args.get("text") or "")
        if not text and not blocks and args.get("attachments") in (None, "", "[]", []):
            raise ApiError("no_text")
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            parent = self._by_ts.get((channel, str(thread_ts)))
            if parent is None or parent["thread_ts"] is not None:
                raise ApiError("thread_not_found")
            thread_ts = str(thread_ts)
        message: Json = {
            "channel": channel,
            "ts": self._next_ts(),
            "text": text,
            "blocks": blocks or [],
            "thread_ts": thread_ts,
            "metadata": metadata,
            "edits": 0,
            "posted_at": time.monotonic(),
            "broadcast": bool(thread_ts) and truthy(args.get("reply_broadcast")),
            "edited_ts": None,
            "attachments": message_attachments(args),
        }
        self._channels[channel].append(message)
        self._by_ts[(channel, message["ts"])] = message
        if thread_ts is not None:
            self._threads[(channel, thread_ts)].append(message)
        self._post_times[channel].append(message["posted_at"])
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._render(message, include_metadata=True),
        }

    def _update(self, args: Json) -> Json:
        channel = self._channel(args)
        message = self._by_ts.get((channel, str(args.get("ts") or "")))
        if message is None:
            raise ApiError("message_not_found")
        blocks, metadata = message_content(args)
        # Omitted fields keep their old value; an empty ``blocks`` list removes the blocks.
        text = str(args["text"] or "") if "text" in args else message["text"]
        blocks = message["blocks"] if blocks is None else blocks
        if not text and not blocks:
            raise ApiError("no_text")
        message.update(text=text, blocks=blocks, edits=message["edits"] + 1)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited_ts"] = self._next_ts()
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._render(message, include_metadata=True),
        }

    def _thread_of(self, channel: str, root_ts: str) -> list[Json]:
        return self._threads.get((channel, root_ts), [])

    def _render(self, m: Json, *, include_metadata: bool) -> Json:
        out: Json = {
            "type": "message",
            "text": m["text"],
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": m["ts"],
        }
        if m["blocks"]:
            out["blocks"] = copy.deepcopy(m["blocks"])
        if m.get("attachments"):
            out["attachments"] = copy.deepcopy(m["attachments"])
        if m["thread_ts"]:
            out["thread_ts"] = m["thread_ts"]
            out["parent_user_id"] = BOT_USER_ID
            if m["broadcast"]:
                out["subtype"] = "thread_broadcast"
        else:
            thread = self._thread_of(m["channel"], m["ts"])
            if thread:
                out.update(
                    thread_ts=m["ts"],
                    reply_count=len(thread),
                    reply_users_count=1,
                    latest_reply=thread[-1]["ts"],
                    reply_users=[BOT_USER_ID],
                    is_locked=False,
                    subscribed=False,
                )
        if m["edited_ts"]:
            out["edited"] = {"user": BOT_USER_ID, "ts": m["edited_ts"]}
        if include_metadata and m["metadata"] is not None:
            out["metadata"] = copy.deepcopy(m["metadata"])
        return out

    @staticmethod
    def _window(args: Json, messages: list[Json]) -> list[Json]:
        oldest = ts_bound(args.get("oldest"), "invalid_ts_oldest")
        latest = ts_bound(args.get("latest"), "invalid_ts_latest")
        inclusive = truthy(args.get("inclusive"))

        def inside(m: Json) -> bool:
            us = ts_us(m["ts"])
            if oldest is not None and (us < oldest or (us == oldest and not inclusive)):
                return False
            return latest is None or us < latest or (us == latest and inclusive)

        return [m for m in messages if inside(m)]

    def _history(self, args: Json) -> Json:
        channel = self._channel(args)
        limit = page_limit(args.get("limit"), 100, 999)
        start = decode_cursor(args.get("cursor"))
        found = [m for m in self._channels[channel] if m["thread_ts"] is None or m["broadcast"]]
        found = self._window(args, found)[::-1]  # newest first
        if start is not None:
            found = [m for m in found if ts_us(m["ts"]) <= start]
        page, rest = found[:limit], found[limit:]
        meta = truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, include_metadata=meta) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": encode_cursor(rest[0]["ts"]) if rest else ""},
        }

    def _replies(self, args: Json) -> Json:
        channel = self._channel(args)
        root = self._by_ts.get((channel, str(args.get("ts") or "")))
        if root is None:
            raise ApiError("thread_not_found")
        if root["thread_ts"] is not None:  # a reply's ts names its whole thread
            root = self._by_ts[(channel, root["thread_ts"])]
        limit = page_limit(args.get("limit"), 1000, 1000)
        start = decode_cursor(args.get("cursor"))
        found = self._window(args, self._thread_of(channel, root["ts"]))
        if start is not None:
            found = [m for m in found if ts_us(m["ts"]) >= start]
        page, rest = found[:limit], found[limit:]
        meta = truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, include_metadata=meta) for m in [root, *page]],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": encode_cursor(rest[0]["ts"]) if rest else ""},
        }
