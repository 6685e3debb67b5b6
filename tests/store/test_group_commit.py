"""Group commit (bot/store/group_commit.py): deliveries that arrive together share one
transaction; none is lost, a refused one never fails its neighbours, and every answer is exact.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.store.engine import make_engine
from bot.store.group_commit import GroupCommitter, holds_lock
from bot.store.tx import lock_for

META = MetaData()
PROBE = Table(
    "group_commit_probe",
    META,
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False, unique=True),
    Column("name", String(32), nullable=False),
)


@pytest.fixture
def probe(engine: Engine) -> Iterator[Engine]:
    META.create_all(engine)
    try:
        yield engine
    finally:
        META.drop_all(engine)


def put(n: int, name: str = "ok") -> Callable[[Session], int]:
    def work(session: Session) -> int:
        session.execute(insert(PROBE).values(n=n, name=name))
        total = session.execute(select(func.count()).select_from(PROBE)).scalar_one()
        return n if total else -1

    return work


def stored(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(r.n for r in conn.execute(select(PROBE.c.n)))


async def test_concurrent_deliveries_are_grouped_and_each_answered_with_its_own_result(
    probe: Engine,
) -> None:
    committer = GroupCommitter(probe, max_batch=16)
    gate = threading.Event()
    try:
        # Hold the writer on a first unit so the next 200 queue up behind it, as under load.
        held = committer.submit(lambda s: gate.wait(10))
        waiting = [asyncio.ensure_future(committer.run(put(n))) for n in range(200)]
        await asyncio.sleep(0)
        gate.set()
        answers = await asyncio.gather(*waiting)
        assert held.result(5) is True
    finally:
        committer.close()
    assert answers == list(range(200))  # each its own answer, in the order it asked
    assert stored(probe) == list(range(200))  # none lost, none twice
    assert committer.stats.units == 201
    assert committer.stats.largest == 16  # grouped, up to max_batch
    assert committer.stats.batches < 30


async def test_a_refused_delivery_fails_alone_and_its_neighbours_are_stored(
    probe: Engine,
) -> None:
    committer = GroupCommitter(probe)
    gate = threading.Event()
    try:
        committer.submit(lambda s: gate.wait(10))
        good = [asyncio.ensure_future(committer.run(put(n))) for n in (1, 2, 3)]
        clash = asyncio.ensure_future(committer.run(put(2, "the same n again")))
        bug = asyncio.ensure_future(committer.run(lambda s: 1 / 0))
        after = [asyncio.ensure_future(committer.run(put(n))) for n in (4, 5)]
        await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*good, *after) == [1, 2, 3, 4, 5]
        with pytest.raises(IntegrityError):
            await clash  # answered as it would be alone: the content collides (a 400)
        with pytest.raises(ZeroDivisionError):
            await bug
    finally:
        committer.close()
    assert stored(probe) == [1, 2, 3, 4, 5]
    assert committer.stats.retried_alone == 1
    assert committer.stats.largest >= 7  # the refused unit shared its batch with the others


async def test_savepoints_are_paid_only_by_a_batch_in_which_a_unit_raised(
    probe: Engine,
) -> None:
    savepoints: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.upper().startswith("SAVEPOINT"):
            savepoints.append(statement)

    event.listen(probe, "before_cursor_execute", seen)
    committer = GroupCommitter(probe)
    try:
        for batch in ((1, 2, 3), (4, 5, 4)):  # the second has a clash: 4 twice
            gate = threading.Event()
            committer.submit(lambda s, gate=gate: gate.wait(10))  # the next units queue up
            answers = [asyncio.ensure_future(committer.run(put(n))) for n in batch]
            await asyncio.sleep(0)
            gate.set()
            await asyncio.gather(*answers, return_exceptions=True)
            if batch == (1, 2, 3):
                assert savepoints == []  # no unit raised: no savepoint at all
    finally:
        event.remove(probe, "before_cursor_execute", seen)
        committer.close()
    assert len(savepoints) == 3  # the second batch again, each unit in its own
    assert stored(probe) == [1, 2, 3, 4, 5]
    assert committer.stats.retried_alone == 1


async def test_a_batch_takes_the_locks_its_units_name_in_one_statement(probe: Engine) -> None:
    """PostgreSQL: the named advisory locks are taken together, before any unit runs; a unit
    that holds its lock skips ``lock_for``. SQLite: nothing to take (BEGIN IMMEDIATE)."""
    locking: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "pg_advisory_xact_lock" in statement:
            locking.append(statement)

    def locked_put(n: int, name: str) -> Callable[[Session], int]:
        def work(session: Session) -> int:
            if not holds_lock(session, name):
                lock_for(session, name)
            return put(n)(session)

        return work

    postgres = probe.dialect.name == "postgresql"
    event.listen(probe, "before_cursor_execute", seen)
    committer = GroupCommitter(probe)
    try:
        gate = threading.Event()
        committer.submit(lambda s: gate.wait(10))
        names = ["group-a", "group-b", "group-a"]
        answers = [
            asyncio.ensure_future(committer.run(locked_put(n, name), lock=name))
            for n, name in enumerate(names)
        ]
        await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*answers) == [0, 1, 2]
        alone = await committer.run(locked_put(3, "group-c"))  # no lock named: takes its own
        assert alone == 3
    finally:
        event.remove(probe, "before_cursor_execute", seen)
        committer.close()
    assert len(locking) == (2 if postgres else 0)  # the batch's one, and the unnamed unit's
    assert stored(probe) == [0, 1, 2, 3]


async def test_a_batch_is_answered_in_one_wake_up_of_the_event_loop(
    probe: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    wake_ups: list[object] = []
    real = loop.call_soon_threadsafe

    def counted(callback: Callable[..., object], *args: object) -> asyncio.Handle:
        wake_ups.append(callback)
        return real(callback, *args)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    committer = GroupCommitter(probe)
    try:
        gate = threading.Event()
        committer.submit(lambda s: gate.wait(10))  # a thread-safe future: no loop involved
        answers = [asyncio.ensure_future(committer.run(put(n))) for n in range(16)]
        await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*answers) == list(range(16))
    finally:
        committer.close()
    assert len(wake_ups) == 1


async def test_nothing_is_answered_before_its_batch_commits(probe: Engine) -> None:
    """A unit's answer waits for the COMMIT: seen from another connection, its row is there
    the moment the answer is."""
    committer = GroupCommitter(probe)
    try:
        for n in range(20):
            assert await committer.run(put(n)) == n
            assert n in stored(probe)
    finally:
        committer.close()


async def test_close_writes_what_is_queued_and_refuses_more(probe: Engine) -> None:
    committer = GroupCommitter(probe)
    futures = [committer.submit(put(n)) for n in range(50)]
    committer.close()
    assert [f.result(5) for f in futures] == list(range(50))
    assert stored(probe) == list(range(50))
    with pytest.raises(RuntimeError):
        committer.submit(put(99))


@pytest.fixture
def pg_probe(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    META.create_all(engine)
    try:
        yield engine
    finally:
        META.drop_all(engine)
        engine.dispose()


async def test_a_second_writer_commits_while_the_first_waits_and_nothing_is_lost(
    pg_probe: Engine,
) -> None:
    # PostgreSQL only: the serving runtime gives it two writers (SQLite allows one at a time).
    probe = pg_probe
    committer = GroupCommitter(probe, writers=2, max_batch=8)
    started, gate = threading.Event(), threading.Event()

    def slow(session: Session) -> bool:
        started.set()
        return gate.wait(10)

    try:
        held = committer.submit(slow)  # one writer is inside its transaction, waiting
        assert await asyncio.to_thread(started.wait, 10)
        meanwhile = [committer.run(put(n)) for n in range(5)]
        assert await asyncio.wait_for(asyncio.gather(*meanwhile), 10) == list(range(5))
        assert not held.done()  # the other writer stored them while this one waited
        later = [
            asyncio.ensure_future(committer.run(put(n), lock=f"g{n % 3}")) for n in range(5, 200)
        ]
        gate.set()
        assert await asyncio.gather(*later) == list(range(5, 200))
        assert held.result(5) is True
    finally:
        committer.close()
    assert stored(probe) == list(range(200))  # none lost, none twice
    assert committer.stats.units == 201
