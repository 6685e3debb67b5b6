"""The incident's own bookkeeping, done by people: declare one by hand, change its severity,
name its lead, post a status update. Each is one transaction: the row, its timeline event, and
what goes to Slack (the root's redraw, a line in the thread, the stakeholders' channel).

The actions ``declare_incident``, ``set_severity``, ``set_lead`` and ``post_status_update``
(``actions/incident_moves.py``)
call this through ``ActionContext.desk``, so every move is checked by policy, audited and run
once like any action. ``wake`` tells the outbox and enrichment, wherever they run, that there is
work (a declared incident is enriched exactly as an alert's is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.catalog.model import Catalog
from bot.incidents import timeline
from bot.outbox.queue import (
    INTERACTIVE,
    enqueue_notice,
    enqueue_reply,
    enqueue_root_post,
    enqueue_root_update,
)
from bot.render.blocks import note_reply
from bot.store.models import EnrichmentStatus, Incident, IncidentStatus, TimelineEvent, fit
from bot.store.tx import run_tx
from bot.store.types import utcnow
from bot.text.mrkdwn import escape

SOURCE = "declared"


@dataclass(frozen=True)
class IncidentFacts:
    """What a plan shows of an incident."""

    id: int
    title: str
    status: str
    severity: str | None
    lead: str | None
    service: str | None
    pagerduty_incident_id: str | None


@dataclass(frozen=True)
class Quoted:
    """The message an incident was declared from: its text (untrusted: shown escaped), and its
    author and permalink (checked to be a Slack user ID and a Slack permalink)."""

    text: str
    author: str | None = None
    link: str | None = None

    def as_mrkdwn(self) -> str:
        lines = "> " + escape(self.text).replace("\n", "\n> ")
        by = f" <@{self.author}>" if self.author else ""
        link = f" (<{self.link}|the message>)" if self.link else ""
        return f"{lines}\n— quoted from{by}{link}" if by or link else lines


@dataclass(frozen=True)
class Declared:
    incident_id: int
    created: bool  # False: this declaration (its key) had already opened it


class IncidentDesk:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        *,
        channel: str,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.channel = channel  # where roots go when the service names no channel of its own
        self.wake = wake

    def facts(self, incident_id: int) -> IncidentFacts | None:
        with Session(self.engine) as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                return None
            return _facts(incident)

    def declare(
        self,
        key: str,
        *,
        title: str,
        service: str | None,
        severity: str | None,
        description: str,
        by: str,
        quote: Quoted | None = None,
    ) -> Declared:
        """Open an incident as an alert would (root, timeline, enrichment). ``key`` (the
        action run's) makes a retry find the incident it opened instead of opening another."""
        group_key = f"{SOURCE}:{key}"

        def work(session: Session) -> Declared:
            found = session.exec(select(Incident).where(Incident.group_key == group_key)).first()
            if found is not None:
                assert found.id is not None
                return Declared(found.id, created=False)
            now = utcnow()
            entry = self.catalog.get(service)
            incident = Incident(
                group_key=group_key,
                source=SOURCE,
                status=IncidentStatus.FIRING,
                title=fit(Incident, "title", title) if title else "Declared incident",
                severity=severity,
                service=service,
                labels={"service": service} if service else {},
                opened_at=now,
                updated_at=now,
                enrichment_state=EnrichmentStatus.PENDING if service else None,
            )
            session.add(incident)
            session.flush()
            assert incident.id is not None
            timeline.add(
                session,
                incident.id,
                "incident_declared",
                f"Incident declared by <@{by}>: {title}",
                at=now,
                actor=by,
                data={"severity": severity, "service": service},
            )
            channel = (entry.channel if entry else None) or self.channel
            enqueue_root_post(session, incident, channel, priority=INTERACTIVE)
            lines = [escape(description)] if description.strip() else []
            if quote is not None:
                lines.append(quote.as_mrkdwn())
            if lines:
                enqueue_reply(
                    session, incident, *note_reply("\n".join(lines)), priority=INTERACTIVE
                )
            return Declared(incident.id, created=True)

        declared = run_tx(self.engine, work)
        self._wake()
        return declared

    def set_severity(self, incident_id: int, severity: str, *, by: str) -> str | None:
        """Change the severity; the one it had before (unchanged: the same value back)."""
        return self._move(
            incident_id,
            "severity",
            severity,
            by=by,
            kind="severity_changed",
            say=lambda before: f"Severity {before or 'unset'} → {severity} by <@{by}>",
            icon=":rotating_light:",
        )

    def set_lead(self, incident_id: int, lead: str, *, by: str) -> str | None:
        """Name the incident lead; the one before (unchanged: the same value back)."""
        return self._move(
            incident_id,
            "lead",
            lead,
            by=by,
            kind="lead_changed",
            say=lambda _: (
                f"<@{lead}> leads the incident"
                if lead == by
                else f"<@{lead}> named incident lead by <@{by}>"
            ),
            icon=":bust_in_silhouette:",
        )

    def _move(
        self,
        incident_id: int,
        field: str,
        value: str,
        *,
        by: str,
        kind: str,
        say: Callable[[str | None], str],
        icon: str,
    ) -> str | None:
        """Set ``field`` of the incident to ``value`` and, if that changed it, say so on the
        timeline (``kind``) and in the thread, and redraw the root; the value before."""

        def work(session: Session) -> str | None:
            incident = _get(session, incident_id)
            before: str | None = getattr(incident, field)
            if before != value:
                setattr(incident, field, value)
                incident.updated_at = utcnow()
                session.add(incident)
                text = say(before)
                data = {"from": before, "to": value}
                timeline.add(session, incident_id, kind, text, actor=by, data=data)
                enqueue_root_update(session, incident, priority=INTERACTIVE)
                enqueue_reply(
                    session, incident, *note_reply(f"{icon} {text}"), priority=INTERACTIVE
                )
            return before

        before = run_tx(self.engine, work)
        self._wake()
        return before

    def status_update(self, key: str, incident_id: int, text: str, *, by: str) -> bool:
        """Post a status update: in the thread, on the timeline, and to the service's
        stakeholder channel; it resets the reminder clock. False when this update (``key``, the
        action run's) was already posted."""

        def work(session: Session) -> bool:
            incident = _get(session, incident_id)
            posted = session.exec(
                select(TimelineEvent).where(
                    TimelineEvent.incident_id == incident_id,
                    TimelineEvent.kind == "status_update",
                )
            ).all()
            if any(event.data.get("key") == key for event in posted):
                return False
            now = utcnow()
            incident.last_update_at = now
            incident.reminded_at = None
            incident.updated_at = now
            session.add(incident)
            timeline.add(
                session,
                incident_id,
                "status_update",
                f"Status update by <@{by}>: {text}",
                at=now,
                actor=by,
                data={"key": key},
            )
            said = escape(text)
            line = f":mega: *Status update* <@{by}>: {said}"
            enqueue_reply(session, incident, *note_reply(line), priority=INTERACTIVE)
            entry = self.catalog.get(incident.service)
            if entry is not None and entry.stakeholder_channel:
                about = (
                    f"#{incident_id} {escape(incident.title)} "
                    f"({escape(incident.severity or 'no severity')}, {incident.status})"
                )
                enqueue_notice(
                    session,
                    incident,
                    entry.stakeholder_channel,
                    *note_reply(f":mega: *Update on {about}* from <@{by}>: {said}"),
                    priority=INTERACTIVE,
                )
            return True

        posted = run_tx(self.engine, work)
        self._wake()
        return posted

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake()


def _get(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise LookupError(f"there is no incident #{incident_id}")
    return incident


def _facts(incident: Incident) -> IncidentFacts:
    assert incident.id is not None
    return IncidentFacts(
        id=incident.id,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        lead=incident.lead,
        service=incident.service,
        pagerduty_incident_id=incident.pagerduty_incident_id,
    )
