"""What happens when an Alertmanager delivery arrives: dedupe, group, lifecycle, messages.

All of it runs in the caller's single transaction, so a delivery is either stored with every
consequence (alerts, incident, timeline, outbox) or not at all.

Rules:
- an alert occurrence is ``(fingerprint, startsAt)``; its status only moves firing → resolved.
  A repeat of the same status is a redelivery (deduplicated); a ``firing`` that arrives after
  its ``resolved`` is stale and never reopens anything;
- one open incident per ``groupKey``: a new firing alert joins it; after it resolves, the next
  firing opens a new incident;
- an incident resolves when all its alerts are resolved;
- times in the future, and ends before starts, are clamped and the clamp noted on the timeline
  (``alert_times``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from bot.catalog.mapping import service_name
from bot.catalog.model import Catalog
from bot.incidents import alert_times, timeline
from bot.incidents import alertmanager_sql as sql
from bot.incidents.resolve import resolve_if_all_alerts_resolved
from bot.intake.alertmanager_schema import AMAlert, AMPayload
from bot.outbox.queue import enqueue_root_post, insert_rows, reply_row, root_update_row
from bot.render.blocks import AlertLike, alerts_reply
from bot.store.group_commit import holds_lock
from bot.store.models import (
    Alert,
    EnrichmentStatus,
    Incident,
    IncidentStatus,
    fit,
)
from bot.store.tx import lock_for
from bot.store.types import utcnow

log = logging.getLogger(__name__)

SOURCE = "alertmanager"


@dataclass
class IngestResult:
    delivery_id: int | None = None
    duplicate_delivery: bool = False
    alerts_received: int = 0
    alerts_new: int = 0
    alerts_resolved: int = 0
    alerts_deduplicated: int = 0
    incidents_opened: list[int] = field(default_factory=list)
    incidents_resolved: list[int] = field(default_factory=list)
    incidents_touched: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "delivery_id": self.delivery_id,
            "duplicate": self.duplicate_delivery,
            "alerts": {
                "received": self.alerts_received,
                "new": self.alerts_new,
                "resolved": self.alerts_resolved,
                "deduplicated": self.alerts_deduplicated,
            },
            "incidents": {
                "opened": self.incidents_opened,
                "resolved": self.incidents_resolved,
                "touched": self.incidents_touched,
            },
        }


def group_lock(payload: AMPayload) -> str:
    """The ``lock_for`` name that serialises the writers of one alert group (across replicas)."""
    return f"am-group:{payload.groupKey}"


def ingest(
    session: Session,
    payload: AMPayload,
    raw_body: bytes,
    channel: str,
    catalog: Catalog | None = None,
) -> IngestResult:
    """Store one Alertmanager delivery. New incidents go to their service's channel when the
    catalog names one, else to ``channel``."""
    catalog = catalog or Catalog()
    result = IngestResult(alerts_received=len(payload.alerts))
    lock = group_lock(payload)
    if not holds_lock(session, lock):  # the group committer may hold it for the whole batch
        lock_for(session, lock)

    key = hashlib.sha256(raw_body).hexdigest()
    conn = session.connection()
    fingerprints = {a.fingerprint for a in payload.alerts}
    first = sql.first_look(session, conn, SOURCE, key, fingerprints, payload.groupKey)
    if first.delivery_id is not None:
        result.delivery_id = first.delivery_id
        result.duplicate_delivery = True
        result.alerts_deduplicated = len(payload.alerts)
        return result

    now = utcnow()
    known = _known_alerts(session, payload.alerts, now) if first.some_known else {}
    known_by_fingerprint: dict[str, list[Alert]] = {}
    for known_row in known.values():
        known_by_fingerprint.setdefault(known_row.fingerprint, []).append(known_row)
    changed: dict[int, list[AlertLike]] = {}  # incident id -> alerts changed by this delivery
    # New alerts and their timeline entries go in as two multi-row INSERTs (the hot path).
    new_alerts: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []
    # The group's open incident as (id, Slack channel): the ORM row is loaded only when the
    # incident may resolve or is opened here.
    incident_id: int | None = first.incident_id
    channels: dict[int, str | None] = {} if incident_id is None else {incident_id: first.channel}
    opened: Incident | None = None
    seen: set[tuple[str, datetime]] = set()

    for am in payload.alerts:
        occurrence = (am.fingerprint, am.startsAt)
        starts, start_clamp = alert_times.start(am.startsAt, now)
        # Two future starts of one fingerprint both become now: one occurrence, not two.
        if occurrence in seen or (am.fingerprint, starts) in seen:
            result.alerts_deduplicated += 1
            continue
        seen.update((occurrence, (am.fingerprint, starts)))
        row = known.get(occurrence)
        name = am.alertname or am.fingerprint

        if row is not None:
            if row.status == am.status or row.status == "resolved":
                # Redelivery, or a firing that arrives after its resolved: never reopen.
                result.alerts_deduplicated += 1
                continue
            ended, clamp = alert_times.end(am.endsAt, row.starts_at, now)
            _resolve_alert(session, row, ended, now, changed)
            if clamp is not None and row.incident_id is not None:
                new_events.append(clamp.event(row.incident_id, am.fingerprint, name))
            result.alerts_resolved += 1
            continue

        # A fingerprint is active once at a time: a newer occurrence ends any older one still
        # firing (its resolved notification was lost), or that incident could never resolve.
        for older in known_by_fingerprint.get(am.fingerprint, []):
            if older.status == "firing" and older.starts_at < starts:
                _resolve_alert(session, older, starts, now, changed)
                result.alerts_resolved += 1

        # A new occurrence. It needs an incident: the group's open one, or a new one.
        if incident_id is None:
            opened = _open_incident(session, payload, am, starts, channel, catalog, now)
            incident_id = _id(opened)
            channels[incident_id] = opened.slack_channel
            result.incidents_opened.append(incident_id)
        ends, end_clamp = (
            alert_times.end(am.endsAt, starts, now) if am.status == "resolved" else (None, None)
        )
        new_alerts.append(
            {
                "incident_id": incident_id,
                "fingerprint": am.fingerprint,
                "alertname": fit(Alert, "alertname", am.alertname),
                "status": am.status,
                "starts_at": starts,
                "ends_at": ends,
                "labels": am.labels,
                "annotations": am.annotations,
                "generator_url": am.generatorURL or None,
                "updated_at": now,
            }
        )
        new_events.append(
            {
                "incident_id": incident_id,
                "at": ends or starts,
                "kind": f"alert_{am.status}",
                "actor": None,
                "text": f"{name} {am.status}",
                "data": {"fingerprint": am.fingerprint, "labels": am.labels},
            }
        )
        for clamp in (start_clamp, end_clamp):
            if clamp is not None:
                new_events.append(clamp.event(incident_id, am.fingerprint, name))
        result.alerts_new += 1
        changed.setdefault(incident_id, []).append(am)

    delivery = {
        "source": SOURCE,
        "dedupe_key": key,
        "received_at": now,
        "body": raw_body.decode("utf-8"),
    }
    if _one_new_firing_alert_joins_its_group(
        conn, new_alerts, new_events, changed, channels, opened
    ):
        [(changed_id, alerts)] = changed.items()
        target = channels[changed_id]
        assert target is not None
        result.incidents_touched.append(changed_id)
        text, blocks = alerts_reply(alerts)
        messages = [
            root_update_row(changed_id, target),
            reply_row(changed_id, target, text, blocks),
        ]
        delivery["result"] = result.as_json()
        result.delivery_id = sql.store_one_new_alert(
            session, conn, new_alerts[0], new_events[0], messages, delivery
        )
        return result

    if new_alerts:
        sql.run(session, conn, sql.INSERT_ALERTS, new_alerts)
    if new_events:
        sql.run(session, conn, sql.INSERT_TIMELINE_EVENTS, new_events)
    session.flush()
    for changed_id, alerts in changed.items():
        # Only a resolved alert can make an incident resolved: skip the query otherwise.
        some_resolved = any(a.status == "resolved" for a in alerts)
        if some_resolved or changed_id not in channels:
            inc = session.get(Incident, changed_id)
            assert inc is not None
            if some_resolved and resolve_if_all_alerts_resolved(session, inc, now):
                result.incidents_resolved.append(changed_id)
            channels[changed_id] = inc.slack_channel
        result.incidents_touched.append(changed_id)
        target = channels[changed_id]
        if target is None:
            continue  # not posted anywhere: nothing to redraw or reply under
        rows = []
        if opened is None or changed_id != opened.id:
            rows.append(root_update_row(changed_id, target))
        text, blocks = alerts_reply(alerts)
        rows.append(reply_row(changed_id, target, text, blocks))
        insert_rows(session, rows)

    delivery["result"] = result.as_json()
    result.delivery_id = sql.run(session, conn, sql.INSERT_DELIVERY, delivery).scalar_one()
    return result


def _one_new_firing_alert_joins_its_group(
    conn: Connection,
    new_alerts: list[dict[str, Any]],
    new_events: list[dict[str, Any]],
    changed: dict[int, list[AlertLike]],
    channels: dict[int, str | None],
    opened: Incident | None,
) -> bool:
    """Whether this delivery is the commonest kind, which PostgreSQL stores in one statement
    (``alertmanager_sql.STORE_ONE_NEW_ALERT``): one new firing alert (no clamp noted), joining
    its group's open incident, which has a thread; nothing else changed."""
    if conn.dialect.name != "postgresql" or opened is not None:
        return False
    if len(new_alerts) != 1 or len(new_events) != 1 or len(changed) != 1:
        return False
    [(incident_id, alerts)] = changed.items()
    return channels.get(incident_id) is not None and all(a.status == "firing" for a in alerts)


def _resolve_alert(
    session: Session,
    row: Alert,
    ends_at: datetime,
    now: datetime,
    changed: dict[int, list[AlertLike]],
) -> None:
    row.status = "resolved"
    row.ends_at = ends_at
    row.updated_at = now
    session.add(row)
    if row.incident_id is not None:
        changed.setdefault(row.incident_id, []).append(row)
        timeline.add(
            session,
            row.incident_id,
            "alert_resolved",
            f"{row.alertname or row.fingerprint} resolved",
            at=ends_at,
            data={"fingerprint": row.fingerprint},
        )


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id


def _known_alerts(
    session: Session, alerts: list[AMAlert], now: datetime
) -> dict[tuple[str, datetime], Alert]:
    """Stored occurrences by ``(fingerprint, startsAt as received)`` (asked only when some are:
    most deliveries bring new alerts only, ``first_look`` says)."""
    fingerprints = {a.fingerprint for a in alerts}
    rows = session.exec(select(Alert).where(col(Alert.fingerprint).in_(fingerprints))).all()
    known = {(r.fingerprint, r.starts_at): r for r in rows}
    if all(alert_times.start(a.startsAt, now)[1] is None for a in alerts):
        return known  # no start was clamped: the stored starts are the received ones
    incident_ids = {r.incident_id for r in rows if r.incident_id is not None}
    for (fp, received), used in alert_times.clamped_starts(session, incident_ids).items():
        if (fp, used) in known:
            known[(fp, received)] = known[(fp, used)]
    return known


def _open_incident(
    session: Session,
    payload: AMPayload,
    first: AMAlert,
    starts: datetime,
    channel: str,
    catalog: Catalog,
    now: datetime,
) -> Incident:
    labels = {**payload.commonLabels} or dict(first.labels)
    annotations = payload.commonAnnotations or first.annotations
    title = (
        annotations.get("summary")
        or annotations.get("description")
        or first.alertname
        or payload.groupKey
    )
    service = service_name(labels, catalog) or service_name(first.labels, catalog)
    severity = labels.get("severity") or first.labels.get("severity")
    entry = catalog.get(service)
    if entry is not None and entry.channel:
        channel = entry.channel
    incident = Incident(
        group_key=payload.groupKey,
        source=SOURCE,
        status=IncidentStatus.FIRING,
        title=title,
        severity=fit(Incident, "severity", severity) if severity is not None else None,
        service=fit(Incident, "service", service) if service is not None else None,
        labels=labels,
        generator_url=first.generatorURL or None,
        runbook_url=annotations.get("runbook_url") or annotations.get("runbook"),
        opened_at=min(starts, now),
        updated_at=now,
        enrichment_state=EnrichmentStatus.PENDING,
    )
    session.add(incident)
    session.flush()
    timeline.add(
        session,
        _id(incident),
        "incident_opened",
        f"Incident opened: {title}",
        at=incident.opened_at,
        data={"group_key": payload.groupKey},
    )
    enqueue_root_post(session, incident, channel)
    return incident
