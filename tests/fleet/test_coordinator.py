"""The coordinators against the real databases: one leader per kind, liveness, hand-over, loss
of the connection, wake-ups across replicas, and one ``serve`` per SQLite file."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from bot.fleet.coordinator import Coordinator, coordinator_for
from bot.fleet.postgres import PgCoordinator, psycopg_dsn
from bot.fleet.sqlite import SqliteCoordinator
from bot.store.engine import make_engine
from tests.support.fleet import wait_for
from tests.support.server import ROOT


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pair(postgres_url: str, pg_engine: Engine) -> Iterator[tuple[Coordinator, Coordinator]]:
    a = coordinator_for(postgres_url, pg_engine, "replica-a")
    b = coordinator_for(postgres_url, pg_engine, "replica-b")
    for c in (a, b):
        c.start()
        c.want("outbox")
    yield a, b
    a.close()
    b.close()


def the_leader(a: Coordinator, b: Coordinator) -> tuple[Coordinator, Coordinator]:
    wait_for(lambda: a.leads("outbox") or b.leads("outbox"), 10, "a leader")
    assert not (a.leads("outbox") and b.leads("outbox")), "two leaders"
    return (a, b) if a.leads("outbox") else (b, a)


def test_one_leader_and_the_other_takes_over_when_it_goes(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    leader, other = the_leader(*pair)
    assert other.is_alive(leader.replica)
    assert leader.is_alive(other.replica)
    leader.close()
    wait_for(lambda: other.leads("outbox"), 3, "the survivor to lead")
    assert not other.is_alive(leader.replica)


def test_a_released_kind_is_handed_over_and_the_leader_stays_alive(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    leader, other = the_leader(*pair)
    leader.release("outbox")  # drain: hand the work over, keep serving
    wait_for(lambda: other.leads("outbox"), 3, "the hand-over")
    assert not leader.leads("outbox")
    assert other.is_alive(leader.replica), "a draining replica is still alive"


def test_a_replica_whose_session_is_killed_stops_leading_at_once(
    postgres_url: str, pair: tuple[Coordinator, Coordinator]
) -> None:
    leader, other = the_leader(*pair)
    with psycopg.connect(psycopg_dsn(postgres_url), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"opsbot {leader.replica}",),
        )
    wait_for(lambda: other.leads("outbox"), 5, "the survivor to lead")
    assert not leader.leads("outbox"), "the cut-off replica must stop leading"
    # It reconnects, alive again, and waits its turn.
    wait_for(lambda: other.is_alive(leader.replica), 5, "the replica to reconnect")
    assert not leader.leads("outbox")


def test_a_wake_up_reaches_the_other_replica(pair: tuple[Coordinator, Coordinator]) -> None:
    a, b = pair
    heard = threading.Event()
    b.on_wake("enrich", heard.set)
    wait_for(lambda: a.is_alive(b.replica), 5, "b to be connected")
    # b listens once connected; a notify before that would be lost, so repeat until heard.
    wait_for(lambda: a.notify("enrich") is None and heard.wait(0.2), 5, "b to hear a's wake-up")


def test_sqlite_liveness_follows_the_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/opsbot.db"
    mine = SqliteCoordinator(url, "host:1:aaaa")
    mine.start()
    other = SqliteCoordinator(url, "host:2:bbbb")
    code = (
        "import time; from bot.fleet.sqlite import SqliteCoordinator as C; "
        f"c = C({url!r}, 'host:2:bbbb'); c.start(); print('up', flush=True); time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"up"
            assert mine.is_alive(other.replica)
            child.kill()
            child.wait(10)
            assert not mine.is_alive(other.replica)
            assert mine.is_alive(mine.replica)
        finally:
            child.kill()
            mine.close()


def test_a_second_serve_on_one_sqlite_file_refuses_in_one_line(tmp_path: Path) -> None:
    env_url = f"sqlite:///{tmp_path}/opsbot.db"
    from bot.fleet.sqlite import hold_sole_server

    first = hold_sole_server(env_url)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "--port", "1"],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "OPSBOT_DATABASE_URL": env_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        first.release()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "already using" in lines[0]
    assert "PostgreSQL" in lines[0]


def test_postgres_coordinators_are_used_for_postgres(postgres_url: str, pg_engine: Engine) -> None:
    assert isinstance(coordinator_for(postgres_url, pg_engine), PgCoordinator)
