"""What happens when a PagerDuty v3 webhook arrives: link, acknowledge, resolve.

A PagerDuty incident links to an open opsbot incident when it is already linked by id, or when its
``incident_key`` is the Alertmanager group key (or Alertmanager's SHA-256 of it, the dedup key
Alertmanager's own PagerDuty receiver sends). Otherwise ``incident.triggered`` opens an incident.

Events may arrive in any order; the incident converges to PagerDuty's state all the same. A
PagerDuty incident only moves forward (triggered → acknowledged → resolved: PagerDuty reopens
nothing under the same id), so an event applies only when it moves the incident forward, and a
late ``triggered`` never reopens it. An acknowledge or resolve of a PagerDuty incident opsbot does
not know yet waits in the inbox (its delivery's ``result`` says ``waiting`` and names the
PagerDuty incident); when that incident's ``triggered`` arrives, the waiting events are applied
after it, in ``occurred_at`` order. Every delivery of one PagerDuty incident takes the same lock.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.errors import IntakeError
from bot.incidents import timeline
from bot.incidents.acknowledge import acknowledge
from bot.incidents.queries import open_incident_for_group
from bot.incidents.resolve import resolve
from bot.incidents.timeline import Because
from bot.intake.json_body import parse_model
from bot.intake.pagerduty_schema import PDEvent, PDWebhook
from bot.outbox.queue import enqueue_reply, enqueue_root_post, enqueue_root_update
from bot.render.blocks import note_reply
from bot.store.models import Delivery, Incident, IncidentStatus, fit
from bot.store.tx import lock_for
from bot.store.types import utcnow
from bot.text.mrkdwn import escape

SOURCE = "pagerduty"
HANDLED = {"incident.triggered", "incident.acknowledged", "incident.resolved"}


@dataclass
class PDResult:
    delivery_id: int | None
    duplicate: bool = False
    incident_id: int | None = None
    opened: bool = False
    resolved: bool = False
    ignored: bool = False
    waiting: bool = False  # an acknowledge or resolve that arrived before its triggered


def ingest(session: Session, event: PDEvent, raw_body: bytes, channel: str) -> PDResult:
    lock_for(session, f"pd-incident:{event.data.id}")
    existing = session.exec(
        select(Delivery.id).where(Delivery.source == SOURCE, Delivery.dedupe_key == event.id)
    ).first()
    if existing is not None:
        return PDResult(delivery_id=existing, duplicate=True)

    delivery = Delivery(source=SOURCE, dedupe_key=event.id, body=raw_body.decode("utf-8"))
    session.add(delivery)
    result = PDResult(delivery_id=None)
    if event.resource_type != "incident" or event.event_type not in HANDLED:
        result.ignored = True
    else:
        _apply(session, event, channel, result)
    session.flush()
    result.delivery_id = delivery.id
    delivery.result = {
        "incident_id": result.incident_id,
        "opened": result.opened,
        "ignored": result.ignored,
        "waiting": result.waiting,
        "pagerduty_incident_id": event.data.id,
    }
    session.add(delivery)
    return result


def _apply(session: Session, event: PDEvent, channel: str, result: PDResult) -> None:
    data = event.data
    now = utcnow()
    incident = _linked_incident(session, data.id, data.incident_key)
    if incident is None and event.event_type == "incident.triggered":
        # One open incident per group key, and an Alertmanager group may be named like ours.
        incident = open_incident_for_group(session, _group_key(data.id))

    if incident is None:
        if event.event_type != "incident.triggered":
            # Ack/resolve of something opsbot has not seen (yet): it waits in the inbox.
            result.ignored = result.waiting = True
            return
        severity = (data.priority.summary if data.priority else None) or data.urgency
        service = data.service.summary if data.service else None
        incident = Incident(
            group_key=_group_key(data.id),
            source=SOURCE,
            title=data.title or f"PagerDuty incident {data.number or data.id}",
            severity=fit(Incident, "severity", severity) if severity is not None else None,
            service=fit(Incident, "service", service) if service is not None else None,
            labels={},
            opened_at=min(event.occurred_at, now),
            updated_at=now,
            pagerduty_incident_id=data.id,
            pagerduty_url=data.html_url,
        )
        session.add(incident)
        session.flush()
        assert incident.id is not None
        timeline.add(
            session,
            incident.id,
            "incident_opened",
            f"Incident opened from PagerDuty: {incident.title}",
            at=incident.opened_at,
        )
        enqueue_root_post(session, incident, channel)
        result.opened = True
    assert incident.id is not None
    result.incident_id = incident.id

    if incident.pagerduty_incident_id is None:
        incident.pagerduty_incident_id = data.id
        incident.pagerduty_url = data.html_url
    _record(session, incident, event, result)
    if event.event_type == "incident.triggered":
        for waiting in _waiting_events(session, data.id, incident.id):
            _record(session, incident, waiting, result)


def _group_key(pd_id: str) -> str:
    return f"pagerduty:{pd_id}"


def _agent(event: PDEvent) -> str:
    who = event.agent.summary if event.agent and event.agent.summary else "PagerDuty"
    return who[:128]


def _record(session: Session, incident: Incident, event: PDEvent, result: PDResult) -> None:
    """``event`` on ``incident``: its status when the event moves it forward, the timeline, and
    the thread (a new incident's root post shows it all)."""
    assert incident.id is not None
    now = utcnow()
    who = _agent(event)
    kind = event.event_type.replace(".", "_").replace("incident_", "pagerduty_")
    text = f"PagerDuty: {event.event_type.split('.', 1)[1]} by {who}"
    # Never before the incident opened: PagerDuty's clock and the alert's may disagree.
    at = max(event.occurred_at, incident.opened_at)
    because = Because(
        kind,
        text,
        at=event.occurred_at,
        actor=who,
        data={"pagerduty_incident_id": event.data.id, "event_id": event.id},
    )
    redraw = not result.opened  # a new incident's root post shows it all
    if event.event_type == "incident.acknowledged":
        acknowledge(session, incident, at, because, redraw=redraw)
    elif event.event_type == "incident.resolved" and resolve(
        session, incident, at, because, redraw=redraw
    ):
        result.resolved = True
    else:  # any other event, or a resolve of an incident already resolved: on the timeline
        incident.updated_at = now
        session.add(incident)
        timeline.record(session, incident.id, because, at)
        if redraw:
            enqueue_root_update(session, incident)
    if redraw:
        reply_text, blocks = note_reply(f":pager: {escape(text)}")
        enqueue_reply(session, incident, reply_text, blocks)


def _waiting_events(session: Session, pd_id: str, incident_id: int) -> list[PDEvent]:
    """The stored events of ``pd_id`` that waited for its ``triggered``, oldest first; each
    delivery now names ``incident_id`` and waits no more."""
    rows = session.exec(
        select(Delivery).where(
            Delivery.source == SOURCE,
            col(Delivery.result)["pagerduty_incident_id"].as_string() == pd_id,
        )
    ).all()
    events = []
    for row in rows:
        if not row.result.get("waiting"):
            continue
        row.result = {**row.result, "waiting": False, "ignored": False, "incident_id": incident_id}
        session.add(row)
        with contextlib.suppress(IntakeError):  # stored by an older opsbot, unreadable now
            events.append(parse_model(PDWebhook, row.body.encode()).event)
    return sorted(events, key=lambda e: e.occurred_at)


def _linked_incident(session: Session, pd_id: str, incident_key: str | None) -> Incident | None:
    linked = session.exec(
        select(Incident)
        .where(Incident.pagerduty_incident_id == pd_id)
        .order_by(col(Incident.id).desc())
    ).first()
    if linked is not None or not incident_key:
        return linked
    for candidate in session.exec(
        select(Incident).where(col(Incident.status).in_(IncidentStatus.OPEN))
    ).all():
        group_hash = hashlib.sha256(candidate.group_key.encode()).hexdigest()
        if incident_key in (candidate.group_key, group_hash):
            return candidate
    return None
