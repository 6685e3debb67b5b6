"""``Homes``: publish each person's App Home tab, and keep it current while they use it.

    opened(user, shown)   the ``app_home_opened`` listener (any replica): record the viewer,
                          publish unless the tab already shows this content
    clicked(user, notice) a button on the tab was decided: publish at once, with what happened
    run(stop)             the ``homes`` loop (one leader in the fleet): every ``interval_s``,
                          redraw the homes of whoever opened theirs in the last ``keep`` (7 days)
                          and publish those whose content changed

"Changed" is the SHA-256 of the view's JSON (``content_hash``), stored per viewer
(``home_view.published_hash``) and carried in the view's ``private_metadata``, which Slack hands
back when the tab is opened: an opening compares with what the tab really shows, so whatever
raced before, the person looking at it gets the current view.

Within Slack's limits: ``views.publish`` is Tier 4 (100+ a minute per workspace); the loop
publishes at most ``per_minute`` (40) in any 60 seconds of its clock, counting the openings and
clicks of this replica too (those are never held back: someone is waiting for them), the viewers
longest without a publish first, so a burst of changes reaches everyone within a few minutes. A
429 pauses the loop for Retry-After; Slack unreachable ends the pass (the next tries again); a
viewer Slack refuses (``user_not_found``, the Home tab turned off) is recorded as failed and left
alone for ``retry_failed_after`` or until they open the tab again, never retried every pass.
Without Slack (the console transport) there is nothing to publish to and the loop only waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import Engine

from bot.catalog.model import Catalog
from bot.errors import TransportError
from bot.home.facts import HomeFacts, World, facts_for, read_world
from bot.home.viewers import (
    forget_before,
    record_failed,
    record_open,
    record_published,
    viewers_since,
)
from bot.render.home import home_view
from bot.store.types import utcnow

if TYPE_CHECKING:
    from bot.runner.execute import Executor

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]
"""``views.publish`` for one user's home; raises ``bot.errors.TransportError``."""

REFRESH_EVERY_S = 10.0
PUBLISHES_PER_MINUTE = 40  # of views.publish's Tier 4 (100+ a minute per workspace)
KEEP = timedelta(days=7)  # a viewer stays one this long after their last opening
RETRY_FAILED_AFTER = timedelta(minutes=15)
WINDOW = timedelta(minutes=1)
NOTICE_MARK = "+notice"  # after the hash in private_metadata: the view carries a notice


def content_hash(view: dict[str, Any]) -> str:
    """The SHA-256 of a view's JSON (drawn without a notice): equal hashes, equal tabs."""
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()


class Homes:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        executor: Executor,
        *,
        publish: Publish | None,
        pagerduty: bool,
        clock: Callable[[], datetime] = utcnow,
        interval_s: float = REFRESH_EVERY_S,
        per_minute: int = PUBLISHES_PER_MINUTE,
        keep: timedelta = KEEP,
        retry_failed_after: timedelta = RETRY_FAILED_AFTER,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.executor = executor
        self.publish = publish  # None: no Slack, nothing to publish to
        self.pagerduty = pagerduty
        self.clock = clock
        self.interval_s = interval_s
        self.per_minute = per_minute
        self.keep = keep
        self.retry_failed_after = retry_failed_after
        self._sent: deque[datetime] = deque()  # this replica's publishes in the last minute
        self._paused_until: datetime | None = None  # a 429's Retry-After

    # -- drawing ---------------------------------------------------------------------------

    def facts(self, world: World, user: str) -> HomeFacts:
        return facts_for(
            world, user, executor=self.executor, catalog=self.catalog, pagerduty=self.pagerduty
        )

    def draw(
        self, world: World, user: str, notice: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """``user``'s view and its content hash."""
        facts = self.facts(world, user)
        view = home_view(facts)
        digest = content_hash(view)
        if notice is None:
            return {**view, "private_metadata": digest}, digest
        return home_view(facts, notice=notice, metadata=digest + NOTICE_MARK), digest

    def _draw_now(self, user: str, notice: str | None) -> tuple[dict[str, Any], str]:
        return self.draw(read_world(self.engine, self.clock()), user, notice)

    # -- on demand -------------------------------------------------------------------------

    async def opened(self, user: str, shown: Mapping[str, Any] | None = None) -> bool:
        """``user`` opened the Home tab (``shown``: the view Slack says it shows, if any):
        record them as a viewer and publish unless it already shows this. True if published."""
        if self.publish is None:
            return False
        await anyio.to_thread.run_sync(record_open, self.engine, user, self.clock())
        view, digest = await anyio.to_thread.run_sync(self._draw_now, user, None)
        if shown is not None and shown.get("private_metadata") == digest:
            await anyio.to_thread.run_sync(
                record_published, self.engine, user, digest, self.clock()
            )
            return False
        return await self._send(user, view, digest) is None

    async def clicked(self, user: str, notice: str) -> bool:
        """A button on ``user``'s tab was decided: publish it now, saying what happened
        (``notice``, safe mrkdwn) until the next change or opening. True if published."""
        if self.publish is None:
            return False
        view, digest = await anyio.to_thread.run_sync(self._draw_now, user, notice)
        return await self._send(user, view, digest) is None

    # -- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        if self.publish is None:
            await stop.wait()
            return
        while not stop.is_set():
            try:
                published = await self.refresh_once()
            except Exception:
                log.exception("could not refresh the App Home tabs")
                published = 0
            if published:
                log.info("republished %d App Home tab(s)", published)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    def room(self, now: datetime) -> int:
        """Publishes left in the current minute."""
        while self._sent and now - self._sent[0] >= WINDOW:
            self._sent.popleft()
        return max(0, self.per_minute - len(self._sent))

    async def refresh_once(self) -> int:
        """One pass: publish the changed homes the rate allows; how many were published."""
        if self.publish is None:
            return 0
        now = self.clock()
        if self._paused_until is not None and now < self._paused_until:
            return 0
        room = self.room(now)
        if room == 0:
            return 0
        changed = await anyio.to_thread.run_sync(self._changed, now, room)
        published = 0
        for user, view, digest in changed:
            error = await self._send(user, view, digest)
            if error is None:
                published += 1
            elif error.retry_after is not None:
                self._paused_until = self.clock() + timedelta(seconds=error.retry_after)
                break
            elif error.retryable:
                break  # Slack unreachable or failing: the next pass tries again
        return published

    def _changed(self, now: datetime, room: int) -> list[tuple[str, dict[str, Any], str]]:
        """Up to ``room`` viewers whose home changed: (user, view, hash)."""
        forget_before(self.engine, now - self.keep)
        viewers = viewers_since(self.engine, now - self.keep)
        if not viewers:
            return []
        world = read_world(self.engine, now)
        out = []
        for viewer in viewers:
            failed = viewer.failed_at
            if failed is not None and now - failed < self.retry_failed_after:
                continue
            view, digest = self.draw(world, viewer.user_id)
            if digest != viewer.published_hash:
                out.append((viewer.user_id, view, digest))
                if len(out) >= room:
                    break
        return out

    async def _send(self, user: str, view: dict[str, Any], digest: str) -> TransportError | None:
        """Publish; record the outcome. The error, if Slack refused or could not be reached."""
        assert self.publish is not None
        self._sent.append(self.clock())
        try:
            await self.publish(user, view)
        except TransportError as exc:
            log.warning("App Home of %s not published: %s", user, exc)
            if not exc.retryable:
                await anyio.to_thread.run_sync(
                    record_failed, self.engine, user, str(exc), self.clock()
                )
            return exc
        await anyio.to_thread.run_sync(record_published, self.engine, user, digest, self.clock())
        return None
