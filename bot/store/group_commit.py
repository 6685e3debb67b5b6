"""Group commit: writes that arrive together are stored in one transaction, each answered exactly.

    request ─┐                      ┌─ work 1 ─┐
    request ─┼─> queue ─> writer ───┼─ work 2 ─┼─> COMMIT ─> every answer
    request ─┘   (``writers``       └─ work 3 ─┘
                  threads)            (if one raises: again, each in its own SAVEPOINT)

- **Batches form by themselves.** A writer thread takes the first waiting unit of work and
  everything else queued behind it (at most ``max_batch``). At low load a batch is one unit and
  nothing waits for a timer; under load the batch grows with the queue.
- **Writers.** SQLite allows one writer at a time: one thread. On PostgreSQL a batch spends
  most of its time waiting for the server (each statement a round trip, then the COMMIT's WAL
  flush), so two threads write: while one batch waits, the next is written. Two batches are
  two transactions, as two replicas' are: units of one alert group stay one after the other
  through its advisory lock (taken below), and a unique-key race between them is settled as
  between replicas (the loser's batch is run again, each unit alone).
- **Each unit in its own SAVEPOINT, when one fails.** A batch first runs without savepoints (two
  statements per unit saved: almost every batch has no failure). When a unit raises, the whole
  transaction is rolled back and the batch runs again with each unit in its own SAVEPOINT: a
  unit the database refuses (a value it will not take, a constraint) rolls back alone; its
  neighbours are kept. It is then run again on its own through ``run_tx`` (a unique-constraint
  race with another replica is retried there, as before) and answered with what that gives: the
  same answer a unit gets without group commit.
- **Answered only once committed.** No unit's result is released before the batch's COMMIT has
  returned, so "200 only once stored" holds for every delivery in it. When the COMMIT itself
  fails (the database went away, a deadlock with another replica), every unit of the batch is run
  again on its own with ``run_tx``; each gets its own answer (stored, or the error).
- **Locks taken together.** A unit may name the advisory lock it needs (``lock=``, e.g. its
  alert group): on PostgreSQL the batch takes all of them first, in one statement and in key
  order (so two replicas' batches cannot deadlock on them), and the unit skips its own
  ``lock_for`` round trip (``holds_lock``). A unit run alone takes its lock itself, as before.
- Units must be safe to run again from scratch (``run_tx``'s rule): whatever they wrote was
  rolled back. They run in the writer thread, one after another, and the session is flushed
  after each (as releasing its savepoint did), so a unit sees what the units before it in the
  batch wrote (two deliveries of one alert group in a batch are deduplicated exactly as if they
  had come one after the other).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.store.engine import session_scope
from bot.store.tx import advisory_key, run_tx

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 64


_HELD = "opsbot_group_commit_locks"  # session.info: names whose advisory lock the batch holds
_LOCK_ALL = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def holds_lock(session: Session, name: str) -> bool:
    """Whether this session's transaction already holds ``lock_for(session, name)``'s lock,
    taken for its whole batch by the group committer."""
    return name in session.info.get(_HELD, ())


@dataclass(eq=False)
class _Unit:
    """A unit of work and where its answer goes: a thread-safe future (``submit``), or an
    asyncio future of the caller's event loop (``run``), answered with the rest of its batch in
    one wake-up of that loop (``_Answers``) instead of one per unit."""

    work: Callable[[Session], Any]
    future: concurrent.futures.Future[Any] | None = None
    lock: str | None = None
    waiter: asyncio.Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    answered: bool = False

    def start(self) -> bool:
        """False when its caller has given up waiting (it is not written then)."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        return self.waiter is not None and not self.waiter.cancelled()


class _Answers:
    """The answers of one batch, handed over once everything in it is settled."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Unit, Any, Any]]] = {}

    def give(self, unit: _Unit, result: Any = None, error: BaseException | None = None) -> None:
        unit.answered = True
        if unit.future is not None:
            if error is None:
                unit.future.set_result(result)
            else:
                unit.future.set_exception(error)
        elif unit.loop is not None:
            self._by_loop.setdefault(unit.loop, []).append((unit, result, error))

    def hand_over(self) -> None:
        for loop, answers in self._by_loop.items():
            with contextlib.suppress(RuntimeError):  # that event loop has closed
                loop.call_soon_threadsafe(_settle, answers)
        self._by_loop = {}


def _settle(answers: list[tuple[_Unit, Any, Any]]) -> None:
    """On the caller's event loop."""
    for unit, result, error in answers:
        waiter = unit.waiter
        if waiter is None or waiter.done():
            continue  # its caller stopped waiting (cancelled)
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)


class _UnitFailed(Exception):
    """A unit raised in a batch without savepoints: the batch goes again with them."""


@dataclass
class BatchStats:
    """What the writer has done so far (read by tests and ``/metrics``)."""

    batches: int = 0
    units: int = 0
    largest: int = 0
    retried_alone: int = 0


class GroupCommitter:
    """Runs units of work (``Callable[[Session], T]``) in shared transactions; see the module."""

    def __init__(
        self, engine: Engine, *, max_batch: int = MAX_BATCH, name: str = "db", writers: int = 1
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if writers < 1:
            raise ValueError("writers must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self.writers = writers
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._name = f"group-commit-{name}"

    async def run(self, work: Callable[[Session], T], *, lock: str | None = None) -> T:
        """``work``'s result once its transaction has committed (or its error); ``lock``: the
        name ``work`` passes to ``lock_for`` (see the module)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._put(_Unit(work, lock=lock, waiter=waiter, loop=loop))
        return await waiter

    def submit(
        self, work: Callable[[Session], T], *, lock: str | None = None
    ) -> concurrent.futures.Future[T]:
        """``run`` from any thread."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(_Unit(work, future, lock))
        return future

    def _put(self, unit: _Unit) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._loop, name=f"{self._name}-{i}", daemon=True)
                    for i in range(self.writers)
                ]
                for thread in self._threads:
                    thread.start()
            self._queue.put(unit)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        # One stop per writer, behind every unit queued: each writer takes one and ends.
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- the writer thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stopping = True
                    break
                batch.append(unit)
            live = [u for u in batch if u.start()]
            if live:
                answers = _Answers()
                try:
                    self._write(live, answers)
                except BaseException as exc:  # never leave a caller waiting forever
                    log.exception("group commit: batch of %d failed", len(live))
                    for unit in live:
                        if not unit.answered:
                            answers.give(unit, error=exc)
                finally:
                    answers.hand_over()

    def _write(self, batch: list[_Unit], answers: _Answers) -> None:
        if not self._write_together(batch, answers):
            self._write_apart(batch, answers)

    def _write_together(self, batch: list[_Unit], answers: _Answers) -> bool:
        """The batch in one transaction without savepoints; False when a unit raised (nothing
        of the batch is stored then, and nobody has been answered)."""
        results: list[Any] = []
        try:
            with session_scope(self.engine) as session:
                _take_locks(session, batch)
                for unit in batch:
                    try:
                        results.append(unit.work(session))
                        session.flush()
                    except Exception as exc:
                        raise _UnitFailed from exc
        except _UnitFailed:
            return False
        except SQLAlchemyError as exc:
            self._commit_failed(batch, exc, answers)
            return True
        self._count(len(batch), 0)
        for unit, result in zip(batch, results, strict=True):
            answers.give(unit, result)
        return True

    def _write_apart(self, batch: list[_Unit], answers: _Answers) -> None:
        """The batch again, each unit in its own savepoint (see the module)."""
        done: list[tuple[_Unit, Any]] = []
        failed: list[tuple[_Unit, BaseException]] = []
        alone: list[_Unit] = []
        try:
            with session_scope(self.engine) as session:
                _take_locks(session, batch)
                for unit in batch:
                    try:
                        with session.begin_nested():
                            done.append((unit, unit.work(session)))
                    except SQLAlchemyError:
                        alone.append(unit)  # its SAVEPOINT is rolled back; the rest go on
                    except Exception as exc:
                        failed.append((unit, exc))
        except SQLAlchemyError as exc:
            self._commit_failed(batch, exc, answers)
            return
        self._count(len(batch), len(alone))
        for unit, result in done:
            answers.give(unit, result)
        for unit, error in failed:
            answers.give(unit, error=error)
        self._run_alone(alone, answers)

    def _commit_failed(self, batch: list[_Unit], exc: SQLAlchemyError, answers: _Answers) -> None:
        # The COMMIT (or BEGIN) failed: nothing of the batch is stored. Each unit alone.
        log.info(
            "group commit: a batch of %d could not be committed (%s); each is run alone",
            len(batch),
            type(exc).__name__,
        )
        self._count(len(batch), len(batch))
        self._run_alone(batch, answers)

    def _run_alone(self, units: list[_Unit], answers: _Answers) -> None:
        for unit in units:
            try:
                result = run_tx(self.engine, unit.work)
            except BaseException as exc:
                answers.give(unit, error=exc)
            else:
                answers.give(unit, result)

    def _count(self, size: int, alone: int) -> None:
        with self._lock:  # writers count from their own threads
            stats = self.stats
            stats.batches += 1
            stats.units += size
            stats.largest = max(stats.largest, size)
            stats.retried_alone += alone


def _take_locks(session: Session, batch: list[_Unit]) -> None:
    """PostgreSQL: every lock the batch's units name, in key order, in one statement."""
    names = {u.lock for u in batch if u.lock is not None}
    if not names or session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({advisory_key(name) for name in names})
    session.execute(_LOCK_ALL, {"keys": keys})
    session.info[_HELD] = frozenset(names)
