"""The audit log on SQLite and PostgreSQL: one unbroken chain, append-only, tampering found."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bot.audit import GENESIS_HASH, append, entry_hash, read, verify
from bot.audit.log import canonical_json
from bot.store.engine import make_engine
from bot.store.models import AuditEntry
from bot.store.tx import run_tx
from tests.support.audit import AT, seed, tamper


def report(engine: Engine, anchor: str | None = None) -> list[str]:
    with Session(engine) as session:
        return verify(session, anchor=anchor).problems


def test_appends_form_a_chain_from_the_genesis_hash(engine: Engine) -> None:
    entries = seed(engine, 4)
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(entries):
        assert after.prev_hash == before.hash
    with Session(engine) as session:
        stored = read(session)
        assert [(e.seq, e.hash) for e in stored] == [(e.seq, e.hash) for e in entries]
        assert all(entry_hash(e) == e.hash for e in stored)
        assert stored[1].params == {"namespace": "ml-serving", "replicas": 2}
        assert stored[1].approver == "U0BOB"
        assert stored[0].result is None
        assert stored[0].at == AT
        result = verify(session)
    assert result.ok
    assert (result.rows, result.head_seq, result.head_hash) == (4, 4, entries[-1].hash)


def test_the_hash_is_sha256_of_the_canonical_json_of_the_row(engine: Engine) -> None:
    [entry] = seed(engine, 1)
    doc = (
        '{"action":"scale_deployment","actor":"U0ALICE","approver":null,'
        '"at":"2026-11-27T03:14:15.926535+00:00","event":"requested",'
        '"params":{"namespace":"ml-serving","replicas":1},"plan":{"summary":"replicas 2 → 1"},'
        f'"prev_hash":"{GENESIS_HASH}","result":null,"seq":1,"subject":"action_run:1"}}'
    )
    assert entry.hash == hashlib.sha256(doc.encode()).hexdigest()


def test_json_values_are_stored_as_they_were_hashed(engine: Engine) -> None:
    params = {"replicas": (2, 6), "since": AT, "nested": {"b": 1, "a": [1.5, None]}}

    def work(session: Session) -> AuditEntry:
        return append(session, actor="console", event="dry_run", subject="x", params=params)

    entry = run_tx(engine, work)
    assert entry.params == {
        "replicas": [2, 6],
        "since": "2026-11-27T03:14:15.926535+00:00",
        "nested": {"b": 1, "a": [1.5, None]},
    }
    assert report(engine) == []


def test_naive_times_and_nan_are_refused(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(ValueError, match="naive"):
            append(session, actor="system", event="x", subject="y", at=datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="Out of range float"):
            append(session, actor="system", event="x", subject="y", result={"v": float("nan")})


def test_read_filters_by_subject_and_position(engine: Engine) -> None:
    seed(engine, 5)
    with Session(engine) as session:
        assert [e.seq for e in read(session, subject="action_run:3")] == [3]
        assert [e.seq for e in read(session, after_seq=2, limit=2)] == [3, 4]


def test_concurrent_appenders_make_one_unbroken_chain(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=8)
    try:

        def appender(worker: int) -> None:
            for i in range(20):
                run_tx(
                    engine,
                    lambda s, i=i: append(
                        s, actor=f"U{worker}", event="step_started", subject=f"w{worker}:{i}"
                    ),
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(appender, range(8)))
        with Session(engine) as session:
            entries = read(session)
            result = verify(session)
        assert [e.seq for e in entries] == list(range(1, 161))
        assert sorted(e.subject for e in entries) == sorted(
            f"w{w}:{i}" for w in range(8) for i in range(20)
        )
        assert result.ok, result.problems
        assert result.rows == 160
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET actor = 'U0MALLORY' WHERE seq = 2",
        "DELETE FROM audit_entry WHERE seq = 2",
        "DELETE FROM audit_entry",
    ],
)
def test_the_database_refuses_update_and_delete(engine: Engine, statement: str) -> None:
    seed(engine, 3)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert report(engine) == []


def test_postgres_refuses_truncate(postgres_url: str) -> None:
    engine = make_engine(postgres_url)  # SQLite has no TRUNCATE
    try:
        seed(engine, 2)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_entry")
    finally:
        engine.dispose()


def test_an_edited_row_is_reported_by_seq(engine: Engine) -> None:
    seed(engine, 5)
    tamper(engine, "UPDATE audit_entry SET approver = 'U0MALLORY' WHERE seq = 3")
    assert report(engine) == ["row seq 3 (id 3): hash mismatch: content was changed"]


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(engine: Engine) -> None:
    seed(engine, 5)
    with Session(engine) as session:
        [row] = read(session, after_seq=2, limit=1)
    row.params = {"namespace": "ml-serving", "replicas": 0}
    forged = entry_hash(row)
    body = '{"namespace":"ml-serving","replicas":0}'
    sql = f"UPDATE audit_entry SET params = '{body}', hash = '{forged}' WHERE seq = 3"  # noqa: S608
    tamper(engine, sql)
    [problem] = report(engine)
    assert problem.startswith("row seq 4 (id 4): chain broken: prev_hash does not match")
    assert "row seq 3 (id 3)" in problem


def test_a_deleted_middle_row_is_reported(engine: Engine) -> None:
    seed(engine, 5)
    tamper(engine, "DELETE FROM audit_entry WHERE seq = 3")
    problems = report(engine)
    assert "row seq 4 (id 4): gap in seq: seq 3 is missing (rows deleted)" in problems
    assert any(p.startswith("row seq 4 (id 4): chain broken") for p in problems)
    assert len(problems) == 2


def test_deleted_first_rows_are_reported(engine: Engine) -> None:
    seed(engine, 3)
    tamper(engine, "DELETE FROM audit_entry WHERE seq <= 2")
    problems = report(engine)
    assert "row seq 3 (id 3): gap in seq: seq 1..2 are missing (rows deleted)" in problems
    assert any("first row's prev_hash is not the genesis hash" in p for p in problems)


def test_swapped_rows_are_reported(engine: Engine) -> None:
    seed(engine, 4)
    tamper(
        engine,
        "UPDATE audit_entry SET seq = -1 WHERE seq = 2",
        "UPDATE audit_entry SET seq = 2 WHERE seq = 3",
        "UPDATE audit_entry SET seq = 3 WHERE seq = -1",
    )
    problems = report(engine)
    assert "row seq 2 (id 3): hash mismatch: content was changed" in problems
    assert "row seq 3 (id 2): hash mismatch: content was changed" in problems
    assert any(p.startswith("row seq 3 (id 2): out of order") for p in problems)


def test_a_deleted_tail_is_found_only_against_a_recorded_head(engine: Engine) -> None:
    entries = seed(engine, 5)
    recorded = entries[-1].hash[:12]  # what `opsbot audit verify` printed earlier
    assert report(engine, anchor=recorded) == []
    tamper(engine, "DELETE FROM audit_entry WHERE seq >= 4")
    assert report(engine) == []  # a shorter chain is still a chain: documented limit
    [problem] = report(engine, anchor=recorded)
    assert problem.startswith(f"anchor {recorded} is not in the chain")


def test_an_anchor_must_look_like_a_hash(engine: Engine) -> None:
    with pytest.raises(ValueError, match="12 to 64 hex digits"):
        report(engine, anchor="abc")


def test_canonical_json_is_compact_sorted_and_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert canonical_json({"b": 1, "a": local, "c": "é"}) == (
        '{"a":"2026-01-01T12:00:00.000000+00:00","b":1,"c":"é"}'
    )
