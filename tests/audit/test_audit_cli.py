"""``opsbot audit verify``: exit 0 with the head to record, 1 with each problem, 2 when unusable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.store.engine import make_engine
from tests.support.audit import seed, tamper

ROOT = Path(__file__).resolve().parents[2]


def audit_verify(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "audit", "verify", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, "OPSBOT_DATABASE_URL": url},
        timeout=60,
        check=False,
    )


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine, 3)
    return engine


def test_an_intact_log_exits_0_with_count_and_head(db_url: str, seeded: Engine) -> None:
    [head] = [e.hash for e in seed(seeded, 1)]  # the fourth row
    result = audit_verify(db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"audit log OK: 4 entries, head {head[:12]}"


def test_a_tampered_log_exits_1_and_names_the_row(db_url: str, seeded: Engine) -> None:
    tamper(seeded, "UPDATE audit_entry SET actor = 'U0MALLORY' WHERE seq = 2")
    result = audit_verify(db_url)
    assert result.returncode == 1
    assert "row seq 2 (id 2): hash mismatch: content was changed" in result.stderr
    assert result.stdout.startswith("audit log BROKEN: 1 problem(s) in 3 entries, head ")


def test_an_empty_log_is_ok(sqlite_url: str) -> None:
    result = audit_verify(sqlite_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit log OK: 0 entries, head 000000000000"


def test_a_deleted_tail_fails_against_the_recorded_head(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        seed(engine, 3)
        recorded = audit_verify(sqlite_url).stdout.split()[-1]
        assert audit_verify(sqlite_url, "--anchor", recorded).returncode == 0
        tamper(engine, "DELETE FROM audit_entry WHERE seq = 3")
    finally:
        engine.dispose()
    assert audit_verify(sqlite_url).returncode == 0  # a chain alone cannot tell
    result = audit_verify(sqlite_url, "--anchor", recorded)
    assert result.returncode == 1
    assert f"anchor {recorded} is not in the chain" in result.stderr


def test_a_malformed_anchor_is_a_usage_error(sqlite_url: str) -> None:
    result = audit_verify(sqlite_url, "--anchor", "xyz")
    assert result.returncode == 2
    assert "12 to 64 hex digits" in result.stderr


def test_a_database_without_the_table_exits_2(tmp_path: Path) -> None:
    result = audit_verify(f"sqlite:///{tmp_path}/empty.db")
    assert result.returncode == 2
    assert "opsbot db upgrade" in result.stderr
