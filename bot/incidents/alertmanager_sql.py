"""The statements every Alertmanager delivery runs, built once (``alertmanager_flow.ingest``).

Built at import and executed with parameters on the session's connection: SQLAlchemy finds the
compiled form in its cache under a key memoised on the statement object itself. Building the
statement again for each delivery (``select(...).where(...)``, ``insert().values(...)``) cost
more CPU than the database did: coercing every value, generating a fresh cache key, and for
ORM selects the ORM's compile state and identity map. ``run`` flushes pending ORM changes
first, as ``Session.execute`` does for every statement, so rows go in in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    Row,
    Select,
    bindparam,
    exists,
    insert,
    select,
)
from sqlmodel import Session

from bot.store.models import Alert, Delivery, Incident, IncidentStatus, TimelineEvent, table

_DELIVERY = table(Delivery)
_ALERT = table(Alert)
_INCIDENT = table(Incident)

# What a delivery needs to know before it changes anything, in one round trip: whether it
# was stored before (its id), whether any of its fingerprints is stored (usually not: a new
# alert), and its group's open incident with the Slack channel (at most one, by the partial
# unique index ``uq_incident_open_group``).
_open_of_group = (_INCIDENT.c.group_key == bindparam("group_key")) & (
    _INCIDENT.c.status != IncidentStatus.RESOLVED
)


def _first_look(known: ColumnElement[bool]) -> Select[Any]:
    return select(
        select(_DELIVERY.c.id)
        .where(
            _DELIVERY.c.source == bindparam("source"),
            _DELIVERY.c.dedupe_key == bindparam("dedupe_key"),
        )
        .scalar_subquery()
        .label("delivery_id"),
        exists().where(known).label("some_known"),
        select(_INCIDENT.c.id).where(_open_of_group).scalar_subquery().label("incident_id"),
        select(_INCIDENT.c.slack_channel).where(_open_of_group).scalar_subquery().label("channel"),
    )


# Most deliveries carry one alert: an equality needs none of the per-call SQL rewriting that an
# expanding IN list does.
FIRST_LOOK_ONE = _first_look(_ALERT.c.fingerprint == bindparam("fingerprint"))
FIRST_LOOK_MANY = _first_look(_ALERT.c.fingerprint.in_(bindparam("fingerprints", expanding=True)))


def first_look(
    session: Session, conn: Connection, source: str, key: str, fingerprints: set[str], group: str
) -> Row[Any]:
    """What a delivery needs to know first: ``delivery_id``, ``some_known``, ``incident_id``,
    ``channel``."""
    params: dict[str, Any] = {"source": source, "dedupe_key": key, "group_key": group}
    if len(fingerprints) == 1:
        [params["fingerprint"]] = fingerprints
        return run(session, conn, FIRST_LOOK_ONE, params).one()
    params["fingerprints"] = list(fingerprints)
    return run(session, conn, FIRST_LOOK_MANY, params).one()


INSERT_ALERTS = insert(_ALERT)
INSERT_TIMELINE_EVENTS = insert(table(TimelineEvent))
INSERT_DELIVERY = insert(_DELIVERY).returning(_DELIVERY.c.id)


def run(
    session: Session,
    conn: Connection,
    statement: Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> CursorResult[Any]:
    """``statement`` with ``params`` (a list: one row each) on ``conn``, the session's
    connection (``session.connection()``, asked once per delivery: it is not free), in its
    transaction, without the ORM's per-statement work."""
    if session.autoflush:
        session.flush()  # what Session.execute does first, for Core statements too
    return conn.execute(statement, params)
