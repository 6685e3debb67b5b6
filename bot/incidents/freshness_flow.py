"""Data freshness as an incident source: a dataset whose last successful run is older than its
catalog objective is an alert that fires for its owning service; a successful run ends it.

It goes through the alerts' own machinery: the staleness is an ``Alert`` row (alertname
``DatasetStale``, a fingerprint per dataset) in an incident whose group key is
``freshness:<namespace>/<name>``, so

- one stale dataset is one incident: an occurrence is ``(fingerprint, deadline)`` (the moment
  the objective was missed), unique in the database, and one incident per group key is open at
  a time (also unique): a second check, a second replica or a restart finds it and adds nothing;
- the incident resolves as an Alertmanager one does, when its last alert resolves
  (``resolve_if_all_alerts_resolved``): timeline, root redrawn, post-incident summary;
- a person who resolves it by hand while the dataset is still stale is not paged again for the
  same staleness; the next one (after a success) opens a new incident.

A dataset with no successful run yet is measured from when opsbot began watching it
(``dataset_watch``). ``check`` runs in the caller's transaction and takes the dataset's lock
(``lock_for``), so the fleet's check and a COMPLETE event being stored (``settle_after_run``)
never both act on one dataset at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.incidents import timeline
from bot.incidents.freshness_text import opened_lines, resolved_line, title
from bot.incidents.freshness_watch import (
    Watched,
    fingerprint,
    group_key,
    watched,
    watched_since,
)
from bot.incidents.queries import open_incident_for_group
from bot.incidents.resolve import resolve_if_all_alerts_resolved
from bot.lineage.freshness import RunOutcome, last_success, producer_of
from bot.outbox.queue import enqueue_reply, enqueue_root_post, enqueue_root_update
from bot.render.blocks import note_reply
from bot.store.models import (
    Alert,
    EnrichmentStatus,
    Incident,
    IncidentStatus,
    LineageRun,
    LineageRunDataset,
    fit,
)
from bot.store.tx import lock_for

log = logging.getLogger(__name__)

SOURCE = "freshness"
ALERTNAME = "DatasetStale"


@dataclass
class CheckResult:
    stale: bool
    deadline: datetime  # when the objective is (or was) missed
    opened: int | None = None  # the incident opened now
    resolved: list[int] | None = None  # incidents whose staleness ended now


def check(
    session: Session, w: Watched, now: datetime, channel: str, catalog: Catalog
) -> CheckResult:
    """Open an incident for ``w`` when it has gone stale, resolve its staleness when it is
    fresh; nothing when neither changed. ``now``: aware UTC."""
    lock_for(session, group_key(w.key))
    since = watched_since(session, w.key, now)
    success = last_success(session, w.key)
    reference = success.at if success is not None else since
    deadline = reference + w.objective
    result = CheckResult(stale=now > deadline, deadline=deadline)
    fp = fingerprint(w.key)
    firing = session.exec(
        select(Alert).where(Alert.fingerprint == fp, Alert.status == "firing")
    ).all()
    if not result.stale:
        if firing:
            result.resolved = _end(session, firing, success, now)
        return result
    if firing:
        return result  # already open (or resolved by a person while still stale)
    seen = session.exec(
        select(Alert.id).where(Alert.fingerprint == fp, Alert.starts_at == deadline)
    ).first()
    if seen is None:
        result.opened = _open(session, w, deadline, since, now, channel, catalog)
    return result


def _open(
    session: Session,
    w: Watched,
    deadline: datetime,
    since: datetime,
    now: datetime,
    channel: str,
    catalog: Catalog,
) -> int:
    producer = producer_of(session, w.key)
    text = title(w, producer, since, now)
    labels = {
        "alertname": ALERTNAME,
        "service": w.owner,
        "dataset": f"{w.key[0]}/{w.key[1]}",
        "catalog_dataset": w.name,
        "freshness": w.dataset.freshness or "",
    }
    incident = open_incident_for_group(session, group_key(w.key))
    opened = incident is None
    if incident is None:
        entry = catalog.get(w.owner)
        incident = Incident(
            group_key=group_key(w.key),
            source=SOURCE,
            status=IncidentStatus.FIRING,
            title=fit(Incident, "title", text),
            service=fit(Incident, "service", w.owner),
            labels=labels,
            opened_at=deadline,
            updated_at=now,
            enrichment_state=EnrichmentStatus.PENDING,
        )
        session.add(incident)
        session.flush()
        assert incident.id is not None
        timeline.add(
            session,
            incident.id,
            "incident_opened",
            f"Incident opened: {text}",
            at=incident.opened_at,
            data={"group_key": group_key(w.key)},
        )
        enqueue_root_post(session, incident, (entry.channel if entry else None) or channel)
    assert incident.id is not None
    lines = opened_lines(w, producer, since, now)
    session.add(
        Alert(
            incident_id=incident.id,
            fingerprint=fingerprint(w.key),
            alertname=ALERTNAME,
            status="firing",
            starts_at=deadline,
            labels=labels,
            annotations={"summary": text, "description": "\n".join(lines)},
            updated_at=now,
        )
    )
    timeline.add(
        session,
        incident.id,
        "alert_firing",
        f"{ALERTNAME} firing: {text}",
        at=deadline,
        data={"fingerprint": fingerprint(w.key), "labels": labels, "facts": lines},
    )
    if not opened:
        enqueue_root_update(session, incident)
    enqueue_reply(session, incident, *note_reply("\n".join(lines)))
    log.info("freshness: %s is stale, incident #%s", labels["dataset"], incident.id)
    return incident.id


def _end(
    session: Session, firing: Sequence[Alert], success: RunOutcome | None, now: datetime
) -> list[int]:
    """The dataset is fresh again: its firing alerts resolve, and their incidents with them."""
    resolved = []
    for alert in firing:
        at = success.at if success is not None else now
        alert.status = "resolved"
        alert.ends_at = max(alert.starts_at, min(at, now))
        alert.updated_at = now
        session.add(alert)
        if alert.incident_id is None:
            continue
        line = resolved_line(alert.labels.get("dataset", ""), success)
        timeline.add(
            session,
            alert.incident_id,
            "alert_resolved",
            f"{ALERTNAME} resolved: {line}",
            at=alert.ends_at,
            data={"fingerprint": alert.fingerprint},
        )
        incident = session.get(Incident, alert.incident_id)
        assert incident is not None
        if resolve_if_all_alerts_resolved(session, incident, now):
            resolved.append(alert.incident_id)
        enqueue_root_update(session, incident)
        enqueue_reply(session, incident, *note_reply(line))
    session.flush()
    return resolved


def settle_after_run(
    session: Session, catalog: Catalog, run_id: str, now: datetime, channel: str
) -> list[int]:
    """A run was stored: when it completed, the watched datasets it wrote that are stale now
    are checked at once (in the same transaction), so their incidents resolve without waiting
    for the next check. The incidents resolved."""
    targets = {w.key: w for w in watched(catalog)}
    if not targets:
        return []
    run = session.exec(select(LineageRun).where(LineageRun.run_id == run_id)).first()
    if run is None or run.state != "COMPLETE":
        return []
    outputs = session.exec(
        select(LineageRunDataset.namespace, LineageRunDataset.name).where(
            LineageRunDataset.run_pk == run.id, LineageRunDataset.direction == "output"
        )
    ).all()
    mine = [targets[(ns, name)] for ns, name in outputs if (ns, name) in targets]
    if not mine:
        return []
    firing = set(
        session.exec(
            select(Alert.fingerprint).where(
                col(Alert.fingerprint).in_([fingerprint(w.key) for w in mine]),
                Alert.status == "firing",
            )
        ).all()
    )
    resolved: list[int] = []
    for w in mine:
        if fingerprint(w.key) in firing:
            resolved += check(session, w, now, channel, catalog).resolved or []
    return resolved
