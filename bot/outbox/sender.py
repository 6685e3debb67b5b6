"""The outbox sender: delivers queued Slack messages in order, at Slack's pace, exactly once.

- Per channel, messages go out one at a time: interactive ones first (a person is waiting:
  an approval request, what a click or a command did; ``OutboxPriority``, chosen when queued),
  then informational ones; within each, root posts first, then queue order. A reply waits until
  its root has a ``ts`` (its root post goes even when an interactive message of its thread
  waits for it).
- In a thread, messages of one priority keep their queue order; an interactive reply may
  overtake the informational replies queued before it (an approval request does not wait for
  the chart). An informational message goes before an interactive one queued earlier only while
  that one waits for another message (its root, the summary it edits), which may be it; and a
  reply takes along only the replies queued after it that are as urgent.
- ``chat.postMessage`` is paced per channel (about 1/s with short bursts); informational
  messages leave one token of the burst in the bucket, so the next interactive one goes at
  once. A 429 pauses the channel for ``Retry-After``; 5xx, timeouts and connection errors retry
  with backoff, forever: nothing is dropped. A permanent Slack error marks the row ``failed``
  (logged and counted).
- Exactly once across crashes: a row is marked ``sending`` before the call and ``sent`` after.
  On start, rows left ``sending`` are looked up in the channel by the outbox ids tagged on each
  message's metadata; found → ``sent``, not found → sent again.
- Files (the chart) are uploaded into the thread after the replies queued before them. An upload
  that got no answer is sent again: it cannot be looked up afterwards, so a rare duplicate chart
  is the price of never losing one.
- Root edits carry no content: the root is rendered from the incident at send time, and all
  edits waiting for the same root collapse into one call. Replies waiting for the same thread
  are merged into one message (up to Block Kit's limits), so a storm cannot flood a channel.
- An alert storm (more roots waiting in a channel than its pace lets through soon) gets one
  message naming every waiting incident, posted before their roots and edited as they arrive
  and as their threads open (``bot.outbox.storm``).
- One sender in a fleet: it runs only on the replica leading ``outbox`` (``bot.fleet``). Each
  new leader starts by settling the rows the last one left ``sending``. ``wake()`` reaches
  the leader wherever it runs (``announce``: PostgreSQL NOTIFY).
- A Ray job's progress message is a root of its own, drawn from its ``job_run`` row: posted
  once (in its incident's thread, or top-level in its channel), the edits waiting for it folded
  into the post or into one ``chat.update``; the reply saying how it ended waits for it. Job rows
  outside an incident are ordered per job, so they never hold up an incident, nor it them.

How each kind of message is rendered, which call sends it and what it leaves behind is its own
unit in ``bot.outbox.kinds``; the sender asks it through ``KINDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Engine, case
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from bot.errors import TransportError
from bot.logs import about
from bot.metrics import Metrics
from bot.outbox.kinds import KINDS
from bot.outbox.kinds.base import Call, Look
from bot.outbox.queue import outbox_depth
from bot.outbox.ratelimit import TokenBucket
from bot.outbox.rows import Due, OrderKey, Prepared, mark_sent
from bot.outbox.storm import StormPolicy, StormWatch
from bot.outbox.transport import ChatTransport
from bot.store.engine import session_scope
from bot.store.models import OutboxKind, OutboxMessage, OutboxStatus, table
from bot.store.types import utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 300.0
BATCH = 200
RECONCILE_LOOKBACK = timedelta(minutes=5)
# Tokens an informational message leaves in its bucket: the next interactive message's.
KEEP_FOR_INTERACTIVE = 1.0
LINKS_RETRY_S = 60.0  # a failed ``auth.test`` for the storm message's links is retried after


def backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF_S, 2 ** max(0, attempts - 1)) * (0.8 + 0.4 * random.random()))


class OutboxSender:
    def __init__(
        self,
        engine: Engine,
        transport: ChatTransport,
        metrics: Metrics | None = None,
        *,
        channel_rate: float = 1.0,
        channel_burst: int = 3,
        poll_interval: float = 1.0,
        look: Look | None = None,
        storms: StormPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.look = look or Look()  # the catalog's choices that messages show
        self.transport = transport
        self.metrics = metrics
        self.channel_rate = channel_rate
        self.channel_burst = channel_burst
        self.poll_interval = poll_interval
        self._post_buckets: dict[str, TokenBucket] = {}
        # chat.update is limited per workspace, not per channel.
        self._update_bucket = TokenBucket(max(channel_rate, 1.0), max(channel_burst, 5))
        # files.completeUploadExternal is a per-method (Tier 4) limit, not the per-channel
        # posting limit: a chart does not wait behind the thread's replies for a token.
        self._file_bucket = TokenBucket(max(channel_rate, 1.5), max(channel_burst, 5))
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.announce: Callable[[], None] | None = None  # tells the fleet's sender, if elsewhere
        self._reconciled = False
        self._soonest = poll_interval  # seconds until a waiting message may go
        self.storms = StormWatch(engine, storms) if storms is not None else None
        self._links_after = 0.0  # when to ask for the workspace's URL again, if it failed

    # -- running ---------------------------------------------------------------------------

    def wake(self) -> None:
        """New rows were committed: look now instead of at the next poll, here or on the
        replica that sends (any thread)."""
        self.wake_here()
        if self.announce is not None:
            self.announce()

    def wake_here(self) -> None:
        """Look now, if this process is the one sending (any thread)."""
        loop, event = self._loop, self._wake
        if loop is None or event is None:
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(event.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._reconciled = False  # a new leader settles what the last one left ``sending``
        while not stop.is_set():
            # Cleared before the pass: a wake-up for rows committed while it ran is kept, and
            # the wait below ends at once.
            self._wake.clear()
            try:
                if not self._reconciled:
                    await self.reconcile_in_flight()
                sent = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox pass failed; retrying")
                sent = 0
            if sent == 0:
                waiter = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=min(self.poll_interval, self._soonest),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in (waiter, stopper):
                    task.cancel()

    async def drain(self, deadline_s: float = 30.0) -> None:
        """Send until nothing is due (tests, ``bench``); raises TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        if not self._reconciled:
            await self.reconcile_in_flight()
        while True:
            await self.drain_once()
            if await asyncio.to_thread(self._depth) == 0:
                return
            if loop.time() > deadline:
                raise TimeoutError("outbox not drained")
            await asyncio.sleep(0.05)

    # -- one pass --------------------------------------------------------------------------

    async def drain_once(self) -> int:
        self._soonest = self.poll_interval
        if self.storms is not None:
            await self._watch_storms(self.storms)
        rows = await asyncio.to_thread(self._load_due)
        if self.metrics:
            self.metrics.outbox_depth.set(await asyncio.to_thread(self._depth))
        by_channel: dict[str, list[Due]] = defaultdict(list)
        for row in rows:
            by_channel[row.channel].append(row)
        results = await asyncio.gather(
            *(self._drain_channel(ch, queue) for ch, queue in by_channel.items())
        )
        return sum(results)

    async def _drain_channel(self, channel: str, queue: list[Due]) -> int:
        """Send the first message of ``channel`` that can go now; 1 if one went, else 0.

        One message per pass: Slack allows about one a second per channel anyway, and the next
        pass reloads the queue, so an interactive message (or a root post) queued meanwhile goes
        before older ones. A message whose token is not there yet is skipped, never waited for,
        in the pass.
        """
        blocked: set[OrderKey] = set()  # threads / jobs whose earlier message cannot go this pass
        # Threads whose interactive message waits for another one (its root, the summary it
        # edits): their other interactive messages wait too; informational ones may go, as
        # what it waits for may be one of them.
        held: set[OrderKey] = set()
        handled: set[int] = set()
        unposted: set[int | None] = set()  # jobs whose progress message is not posted yet
        for row in queue:
            if row.id in handled:
                continue
            # A root post opens its thread: nothing of the thread goes before it, so a message
            # of the thread that could not go (an interactive reply waiting for it) holds it
            # up only by the token they share.
            if row.key in blocked and row.kind != OutboxKind.ROOT_POST:
                continue
            if row.interactive and row.key in held:
                continue
            if row.kind == OutboxKind.JOB_UPDATE and row.job_run_id in unposted:
                continue
            # Slack's pace: a message that must wait is left for a later pass (the run loop
            # sleeps until the soonest token), so one channel's wait never holds up another
            # channel's new incident. Its incident is blocked to keep the thread in order.
            bucket = self._bucket(row.kind, channel)
            delay = bucket.wait_time(keep=0.0 if row.interactive else KEEP_FOR_INTERACTIVE)
            if delay > 0:
                self._soonest = min(self._soonest, delay)
                blocked.add(row.key)
                continue
            prepared = await asyncio.to_thread(self._prepare, row.id)
            if prepared is None:  # taken by a merge, or its root is not posted yet
                # A job edit waiting for its post holds nothing up: the post, queued after it
                # or not, shows the current state and takes it along.
                if row.kind == OutboxKind.JOB_UPDATE:
                    unposted.add(row.job_run_id)
                elif row.interactive:
                    held.add(row.key)
                else:
                    blocked.add(row.key)
                continue
            handled.update(prepared.row_ids)
            bucket.take()
            if await self._send(prepared):
                return 1
            blocked.add(row.key)
        return 0

    async def _watch_storms(self, storms: StormWatch) -> None:
        """Name a channel's waiting incidents in one message when its pace cannot show them
        soon (``bot.outbox.storm``); wake for its next edit."""
        horizon = storms.policy.horizon_s
        root_post = OutboxKind.ROOT_POST
        # The buckets are read in the worker thread while this loop awaits it: nothing else
        # touches them meanwhile.
        edit_in = await asyncio.to_thread(
            storms.plan,
            lambda ch: self._bucket(root_post, ch).takes_within(horizon, keep=KEEP_FOR_INTERACTIVE),
        )
        if edit_in is None:
            return
        self._soonest = min(self._soonest, edit_in)
        now = time.monotonic()
        if self.look.workspace_url is None and now >= self._links_after:
            # The storm message links each thread; without the workspace's URL it says "open".
            self._links_after = now + LINKS_RETRY_S
            with contextlib.suppress(TransportError):
                url = await self.transport.workspace_url()
                self.look = replace(self.look, workspace_url=url)

    def _bucket(self, kind: str, channel: str) -> TokenBucket:
        call = KINDS[kind].call
        if call is Call.UPDATE:
            return self._update_bucket
        if call is Call.UPLOAD:
            return self._file_bucket
        bucket = self._post_buckets.get(channel)
        if bucket is None:
            bucket = TokenBucket(self.channel_rate, self.channel_burst)
            self._post_buckets[channel] = bucket
        return bucket

    async def _send(self, p: Prepared) -> bool:
        with about(incident_id=p.incident_id, job_id=p.job_run_id):
            return await self._send_about(p)

    async def _send_about(self, p: Prepared) -> bool:
        call = KINDS[p.kind].call
        try:
            if call is Call.UPDATE:
                assert p.root_ts is not None
                await self.transport.update(p.channel, p.root_ts, p.text, p.blocks)
                ts = p.root_ts
            elif call is Call.UPLOAD:
                assert p.file is not None
                assert p.thread_ts is not None
                ts = await self.transport.upload_file(
                    p.channel,
                    p.thread_ts,
                    p.file.filename,
                    p.file.content,
                    title=p.file.title,
                    alt_text=p.file.alt_text,
                )
            else:
                ts = await self.transport.post(
                    p.channel, p.text, p.blocks, thread_ts=p.thread_ts, outbox_ids=p.row_ids
                )
        except TransportError as exc:
            if exc.retry_after is not None:
                self._bucket(p.kind, p.channel).block_for(exc.retry_after)
            # An upload cannot be looked up by outbox id: it is sent again (a duplicate chart
            # is better than none). An edit is idempotent.
            if exc.ambiguous and call is Call.POST:
                # The post may have landed: leave the rows ``sending`` and look before resending.
                log.warning(
                    "%s: no answer to %s (%s); checking the channel before resending",
                    p.subject,
                    p.kind,
                    exc.detail,
                )
                self._reconciled = False
                return False
            await asyncio.to_thread(self._record_failure, p, exc)
            return False
        await asyncio.to_thread(self._record_sent, p, ts)
        return True

    # -- database steps (run in a worker thread) -------------------------------------------

    def _depth(self) -> int:
        with Session(self.engine) as session:
            return outbox_depth(session)

    def _load_due(self) -> list[Due]:
        """Just enough of each due row to order the pass; ``_prepare`` loads the rest."""
        outbox = table(OutboxMessage)
        with Session(self.engine) as session:
            rows = session.execute(
                core_select(
                    outbox.c.id,
                    outbox.c.channel,
                    outbox.c.incident_id,
                    outbox.c.kind,
                    outbox.c.job_run_id,
                    outbox.c.priority,
                    outbox.c.storm_id,
                )
                .where(
                    outbox.c.status == OutboxStatus.PENDING,
                    outbox.c.next_attempt_at <= utcnow(),
                )
                # Interactive first: a person waits for them. Then the storm message that
                # names the waiting incidents, then root posts, across the whole queue: in a
                # storm every incident gets its thread before any thread gets its replies.
                .order_by(
                    outbox.c.priority,
                    case(
                        (outbox.c.storm_id.is_not(None), 0),
                        (outbox.c.kind == OutboxKind.ROOT_POST, 1),
                        else_=2,
                    ),
                    outbox.c.id,
                )
                .limit(BATCH)
            ).all()
            return [Due(*row) for row in rows]

    def _prepare(self, row_id: int) -> Prepared | None:
        """Mark the row (and what merges into it) ``sending`` and render it, in one transaction."""
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, row_id)
            if row is None or row.status != OutboxStatus.PENDING:
                return None
            return KINDS[row.kind].prepare(session, row, self.look)

    # -- outcomes --------------------------------------------------------------------------

    def _record_sent(self, p: Prepared, ts: str) -> None:
        with session_scope(self.engine) as session:
            mark_sent(session, p.row_ids, ts)
            KINDS[p.kind].note_posted(session, p, ts)

    def _record_failure(self, p: Prepared, exc: TransportError) -> None:
        now = utcnow()
        with session_scope(self.engine) as session:
            rows = [session.get(OutboxMessage, i) for i in p.row_ids]
            for row in rows:
                if row is None:
                    continue
                row.last_error = f"{exc.operation}: {exc.detail}"[:2000]
                if exc.retryable:
                    row.status = OutboxStatus.PENDING
                    wait = exc.retry_after if exc.retry_after is not None else backoff(row.attempts)
                    row.next_attempt_at = now + timedelta(seconds=wait)
                else:
                    row.status = OutboxStatus.FAILED
                session.add(row)
            if not exc.retryable:
                log.error("%s: Slack refused %s for good: %s", p.subject, p.kind, exc.detail)
                KINDS[p.kind].refused_for_good(session, p, exc.detail)
            else:
                log.warning("%s: %s will be retried: %s", p.subject, p.kind, exc.detail)

    # -- after a crash ---------------------------------------------------------------------

    async def reconcile_in_flight(self) -> int:
        """Settle rows a previous process left ``sending``: did Slack get them or not?"""
        in_flight = await asyncio.to_thread(self._load_in_flight)
        settled = 0
        for row, thread_ts in in_flight:
            assert row.id is not None
            if KINDS[row.kind].call is not Call.POST:
                ts = None  # an edit is idempotent; an upload cannot be looked up: send again
            else:
                oldest = (row.created_at - RECONCILE_LOOKBACK).timestamp()
                ts = await self.transport.find_posted(
                    row.channel, row.id, thread_ts=thread_ts, oldest=oldest
                )
            await asyncio.to_thread(self._settle, row.id, ts)
            settled += 1
        self._reconciled = True
        if settled:
            log.info("outbox: settled %s message(s) left in flight by the last run", settled)
        return settled

    def _load_in_flight(self) -> list[tuple[OutboxMessage, str | None]]:
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.SENDING)
                .order_by(col(OutboxMessage.id))
            ).all()
            return [(row, KINDS[row.kind].thread_of(session, row)) for row in rows]

    def _settle(self, row_id: int, ts: str | None) -> None:
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, row_id)
            if row is None or row.status != OutboxStatus.SENDING:
                return
            if ts is None:
                row.status = OutboxStatus.PENDING
                session.add(row)
                return
            mark_sent(session, [row_id], ts)
            KINDS[row.kind].note_posted(session, row, ts)
