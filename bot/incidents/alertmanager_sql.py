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

from sqlalchemy import CursorResult, Executable, bindparam, insert, select
from sqlmodel import Session

from bot.store.models import Alert, Delivery, Incident, IncidentStatus, TimelineEvent, table

_DELIVERY = table(Delivery)
_ALERT = table(Alert)
_INCIDENT = table(Incident)

DELIVERY_BY_KEY = select(_DELIVERY.c.id).where(
    _DELIVERY.c.source == bindparam("source"), _DELIVERY.c.dedupe_key == bindparam("dedupe_key")
)
# Whether any occurrence of these fingerprints is stored (usually none: a new alert).
ANY_ALERT_OF = (
    select(_ALERT.c.id)
    .where(_ALERT.c.fingerprint.in_(bindparam("fingerprints", expanding=True)))
    .limit(1)
)
OPEN_INCIDENT_OF_GROUP = select(_INCIDENT.c.id, _INCIDENT.c.slack_channel).where(
    _INCIDENT.c.group_key == bindparam("group_key"),
    _INCIDENT.c.status != IncidentStatus.RESOLVED,
)
INSERT_ALERTS = insert(_ALERT)
INSERT_TIMELINE_EVENTS = insert(table(TimelineEvent))
INSERT_DELIVERY = insert(_DELIVERY).returning(_DELIVERY.c.id)


def run(
    session: Session,
    statement: Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> CursorResult[Any]:
    """``statement`` with ``params`` (a list: one row each) on the session's connection, in
    its transaction, without the ORM's per-statement work."""
    if session.autoflush:
        session.flush()  # what Session.execute does first, for Core statements too
    return session.connection().execute(statement, params)
