"""An audit log to check: ``seed`` appends a few entries, ``tamper`` edits the table as its owner
could (the append-only guard switched off first), for tests/audit/."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from bot.audit import append
from bot.store.models import AuditEntry
from bot.store.tx import run_tx

AT = datetime(2026, 11, 27, 3, 14, 15, 926535, tzinfo=UTC)


def seed(engine: Engine, count: int = 5) -> list[AuditEntry]:
    def work(session: Session) -> list[AuditEntry]:
        return [
            append(
                session,
                actor="U0ALICE",
                event="requested" if i % 2 else "applied",
                subject=f"action_run:{i}",
                action="scale_deployment",
                params={"namespace": "ml-serving", "replicas": i},
                plan={"summary": f"replicas 2 → {i}"},
                approver="U0BOB" if i % 2 == 0 else None,
                result={"ok": True} if i % 2 == 0 else None,
                at=AT,
            )
            for i in range(1, count + 1)
        ]

    return run_tx(engine, work)


def tamper(engine: Engine, *statements: str) -> None:
    """What someone with the table owner's rights can do: switch the guard off, then edit."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_entry_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_entry_no_delete")
        for statement in statements:
            conn.exec_driver_sql(statement)
