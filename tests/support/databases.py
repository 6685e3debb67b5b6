"""Empty, migrated databases for each test, without running every migration for every test.

SQLite: the migrations run once per session into a template file; each test gets a copy.
PostgreSQL: the session's database is migrated once; each test empties it (every table but the
migration records, with the triggers off so the audit log's append-only guard and the foreign
keys do not stand in the way) and restarts its sequences, so ids start at 1 again. When the
schema is not exactly as migrated (a test switched a trigger off, dropped or added something,
or LangGraph added its tables), it is dropped and migrated from scratch.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import psycopg
from psycopg import sql

from bot.store.migrate import upgrade

KEPT = ("alembic_version",)  # and every ``*_migrations`` table (LangGraph's checkpointer)


def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file in ``directory``, checkpointed so that copying it copies all."""
    path = directory / "template.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    """The template copied to ``directory/opsbot.db``; its URL."""
    path = directory / "opsbot.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


FINGERPRINT = """
    SELECT 'table', tablename, '' FROM pg_tables WHERE schemaname = 'public'
    UNION ALL
    SELECT 'index', indexname, '' FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'trigger', t.tgname, t.tgenabled::text
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND NOT t.tgisinternal
    UNION ALL
    SELECT 'version', version_num, '' FROM alembic_version
"""
_migrated: dict[str, list[tuple[str, str, str]]] = {}  # url -> the schema as migrated


def _fingerprint(conn: psycopg.Connection[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The schema's tables, indexes, triggers (and whether each is on) and version."""
    try:
        return sorted(conn.execute(FINGERPRINT).fetchall())
    except psycopg.errors.UndefinedTable:  # no alembic_version: not migrated
        return []


def reset_postgres(url: str) -> None:
    """An empty database at the current schema: emptied when its schema is still exactly the
    one the migrations made (tables, indexes, triggers on), else dropped and migrated."""
    with psycopg.connect(url, autocommit=True) as conn:
        schema = _fingerprint(conn)
        if schema and schema == _migrated.get(url):
            tables = [name for kind, name, _ in schema if kind == "table"]
            emptied = [t for t in tables if t not in KEPT and not t.endswith("_migrations")]
            sequences = [
                row[0]
                for row in conn.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                ).fetchall()
            ]
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                for table in emptied:
                    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
                for sequence in sequences:
                    restart = sql.SQL("ALTER SEQUENCE {} RESTART")
                    conn.execute(restart.format(sql.Identifier(sequence)))
            return
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        _migrated[url] = _fingerprint(conn)
