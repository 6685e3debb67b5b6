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
    BindParameter,
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    Row,
    Select,
    Table,
    bindparam,
    exists,
    insert,
    literal_column,
    select,
    union_all,
)
from sqlmodel import Session

from bot.outbox.queue import outbox_row
from bot.store.models import (
    Alert,
    Delivery,
    Incident,
    IncidentStatus,
    OutboxMessage,
    TimelineEvent,
    table,
)

_DELIVERY = table(Delivery)
_ALERT = table(Alert)
_INCIDENT = table(Incident)
_TIMELINE = table(TimelineEvent)
_OUTBOX = table(OutboxMessage)

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
INSERT_TIMELINE_EVENTS = insert(_TIMELINE)
INSERT_DELIVERY = insert(_DELIVERY).returning(_DELIVERY.c.id)

# PostgreSQL, for the commonest delivery (one new firing alert joining its group's open
# incident): its alert, timeline entry, root update and reply, and the delivery itself in one
# statement (data-modifying CTEs), where each INSERT alone is a round trip. The rows are the ones
# the statements above take (``alertmanager_flow.ingest`` builds them); SQLite runs those.
ALERT_KEYS = frozenset(
    (
        *("incident_id", "fingerprint", "alertname", "status", "starts_at", "ends_at"),
        *("labels", "annotations", "generator_url", "updated_at"),
    )
)
EVENT_KEYS = frozenset(("incident_id", "at", "kind", "actor", "text", "data"))
DELIVERY_KEYS = frozenset(("source", "dedupe_key", "received_at", "body", "result"))
MESSAGE_KEYS = frozenset(outbox_row(0, "", "").keys())


def _bound(table: Table, prefix: str, keys: frozenset[str]) -> dict[str, BindParameter[Any]]:
    return {k: bindparam(prefix + k, type_=table.c[k].type) for k in sorted(keys)}


def _message(prefix: str, order: int) -> Select[Any]:
    bound = _bound(_OUTBOX, prefix, MESSAGE_KEYS)
    return select(literal_column(str(order)).label("ord"), *(v.label(k) for k, v in bound.items()))


# Two outbox rows in one INSERT that keeps their order (the root update's id before the
# reply's, as two INSERTs give): a multi-row VALUES would do it too, but SQLAlchemy compiles
# such a statement again on every call.
_MESSAGE_COLUMNS = sorted(MESSAGE_KEYS)
_both = union_all(_message("u_", 0), _message("r_", 1)).subquery()
_in_order = select(*(_both.c[k] for k in _MESSAGE_COLUMNS)).order_by(_both.c.ord)

STORE_ONE_NEW_ALERT = (
    insert(_DELIVERY)
    .values(_bound(_DELIVERY, "d_", DELIVERY_KEYS))
    .returning(_DELIVERY.c.id)
    .add_cte(insert(_ALERT).values(_bound(_ALERT, "a_", ALERT_KEYS)).cte("new_alert"))
    .add_cte(insert(_TIMELINE).values(_bound(_TIMELINE, "t_", EVENT_KEYS)).cte("new_event"))
    .add_cte(insert(_OUTBOX).from_select(_MESSAGE_COLUMNS, _in_order).cte("new_messages"))
)


def store_one_new_alert(
    session: Session,
    conn: Connection,
    alert: dict[str, Any],
    event: dict[str, Any],
    messages: list[dict[str, Any]],
    delivery: dict[str, Any],
) -> int:
    """``STORE_ONE_NEW_ALERT``: the delivery's id. ``messages``: its root update, then its reply
    (ids in that order, as two INSERTs would give)."""
    update, reply = messages
    shapes = [(alert, ALERT_KEYS), (event, EVENT_KEYS), (update, MESSAGE_KEYS)]
    shapes += [(reply, MESSAGE_KEYS), (delivery, DELIVERY_KEYS)]
    if any(row.keys() != keys for row, keys in shapes):
        raise ValueError("a row does not have the columns STORE_ONE_NEW_ALERT inserts")
    params = {f"a_{k}": v for k, v in alert.items()}
    params.update({f"t_{k}": v for k, v in event.items()})
    params.update({f"u_{k}": v for k, v in update.items()})
    params.update({f"r_{k}": v for k, v in reply.items()})
    params.update({f"d_{k}": v for k, v in delivery.items()})
    delivery_id: int = run(session, conn, STORE_ONE_NEW_ALERT, params).scalar_one()
    return delivery_id


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
