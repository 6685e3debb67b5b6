"""Who opened the App Home and what they were last shown: the ``home_view`` rows.

Any replica records an opening (the Slack event lands anywhere); the ``homes`` leader reads
the viewers and records each publish. Every write is one statement on one row, so two replicas
writing the same person's row leave the later write (an opening racing a first insert retries as
an update).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, nulls_first, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.store.engine import session_scope
from bot.store.home_models import HomeView
from bot.store.models import table

ERROR_LIMIT = 500


def record_open(engine: Engine, user: str, now: datetime) -> None:
    """``user`` opened the Home tab now; a failure recorded before is forgiven (they are here)."""
    values = {"opened_at": now, "failed_at": None, "error": None}
    for _ in range(2):
        with session_scope(engine) as session:
            changed = session.connection().execute(
                update(table(HomeView)).where(col(HomeView.user_id) == user).values(**values)
            )
            if int(changed.rowcount) == 1:
                return
        try:
            with session_scope(engine) as session:
                session.add(HomeView(user_id=user, opened_at=now))
            return
        except IntegrityError:  # another replica inserted it a moment ago: update that one
            continue


def viewers_since(engine: Engine, since: datetime) -> Sequence[HomeView]:
    """Whoever opened the Home tab since ``since``; the longest without a publish first."""
    with Session(engine, expire_on_commit=False) as session:
        return session.exec(
            select(HomeView)
            .where(col(HomeView.opened_at) >= since)
            .order_by(nulls_first(col(HomeView.published_at)), col(HomeView.user_id))
        ).all()


def record_published(engine: Engine, user: str, digest: str, now: datetime) -> None:
    with session_scope(engine) as session:
        session.connection().execute(
            update(table(HomeView))
            .where(col(HomeView.user_id) == user)
            .values(published_hash=digest, published_at=now, failed_at=None, error=None)
        )


def record_failed(engine: Engine, user: str, error: str, now: datetime) -> None:
    with session_scope(engine) as session:
        session.connection().execute(
            update(table(HomeView))
            .where(col(HomeView.user_id) == user)
            .values(failed_at=now, error=error[:ERROR_LIMIT])
        )


def forget_before(engine: Engine, cutoff: datetime) -> int:
    """Drop the viewers who have not opened the Home tab since ``cutoff``; how many."""
    with session_scope(engine) as session:
        gone = session.connection().execute(
            delete(table(HomeView)).where(col(HomeView.opened_at) < cutoff)
        )
        return int(gone.rowcount)
