"""Slack user groups (``S…``) for policy: who is in @sre-oncall right now.

``usergroups.users.list`` through the official client (scope ``usergroups:read``), cached for a
few minutes. A group Slack cannot answer for counts as empty: policy then refuses, it never
allows by default.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

TTL_S = 300.0


class SlackGroupResolver:
    def __init__(self, token: str, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._client = WebClient(token=token, base_url=base_url, timeout=int(max(1, timeout_s)))
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(group)
            if cached is not None and now - cached[0] < TTL_S:
                return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
            members = frozenset(str(u) for u in response.get("users") or [])
        except (SlackApiError, SlackClientError) as exc:
            log.warning("Slack user group %s could not be read (%s): counted as empty", group, exc)
            return frozenset()
        with self._lock:
            self._cache[group] = (now, members)
        return members
