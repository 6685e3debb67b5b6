"""What paging changes in opsbot: the incident's link to its PagerDuty incident, its timeline, its
thread and its root. Each call is one transaction.

The actions ``page_service`` and ``request_responders`` (``actions/pagerduty_page.py``) call this
through ``ActionContext.paging``, after PagerDuty answered; they never write the store themselves.
Once: ``link`` records (timeline, thread reply) only when the link is new or PagerDuty opened the
incident just now, so a retried run that finds its incident already made says nothing twice; the
actions call ``asked`` only for a responder request they made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.incidents import timeline
from bot.outbox.queue import INTERACTIVE, enqueue_reply, enqueue_root_update
from bot.render.blocks import note_reply
from bot.store.models import Incident, fit
from bot.store.tx import run_tx
from bot.store.types import utcnow
from bot.text.mrkdwn import escape


@dataclass(frozen=True)
class PageFacts:
    """What a paging plan needs of an opsbot incident."""

    id: int
    title: str
    status: str
    service: str | None
    group_key: str
    pagerduty_incident_id: str | None
    pagerduty_url: str | None


class PagingBook:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def facts(self, incident_id: int) -> PageFacts | None:
        with Session(self.engine) as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                return None
            assert incident.id is not None
            return PageFacts(
                id=incident.id,
                title=incident.title,
                status=incident.status,
                service=incident.service,
                group_key=incident.group_key,
                pagerduty_incident_id=incident.pagerduty_incident_id,
                pagerduty_url=incident.pagerduty_url,
            )

    def link(
        self,
        incident_id: int,
        pd_incident: dict[str, Any],
        *,
        by: str,
        paged: str,
        oncall: str | None,
        created: bool,
    ) -> bool:
        """Link the incident to the PagerDuty incident ``page_service`` opened (or found open
        with its key), name ``oncall`` on the root, and say so in the thread. ``paged``: the
        catalog service. True when something was recorded (see the module docstring)."""
        pd_id = str(pd_incident.get("id") or "")
        url = pd_incident.get("html_url")

        def work(session: Session) -> bool:
            incident = session.get(Incident, incident_id)
            if incident is None:
                return False
            changed = incident.pagerduty_incident_id != pd_id
            if changed:
                incident.pagerduty_incident_id = pd_id
                incident.pagerduty_url = str(url) if url else None
            if oncall and incident.oncall != fit(Incident, "oncall", oncall):
                incident.oncall = fit(Incident, "oncall", oncall)
                changed = True
            if not (changed or created):
                return False
            now = self.clock()
            incident.updated_at = now
            session.add(incident)
            number = pd_incident.get("incident_number")
            text = f"Paged {paged} on PagerDuty: #{number} ({pd_id})" + (
                f", {oncall} on call" if oncall else ""
            )
            timeline.add(
                session,
                incident_id,
                "paged",
                text,
                at=now,
                actor=by,
                data={
                    "pagerduty_incident_id": pd_id,
                    "incident_number": number,
                    "service": paged,
                    "oncall": oncall,
                    "created": created,
                },
            )
            line = _paged_line(paged, pd_incident, oncall)
            enqueue_reply(session, incident, *note_reply(line), priority=INTERACTIVE)
            enqueue_root_update(session, incident, priority=INTERACTIVE)
            return True

        return run_tx(self.engine, work)

    def asked(
        self, incident_id: int, pd_incident_id: str, *, by: str, targets: Sequence[str]
    ) -> None:
        """A responder request was made on the linked PagerDuty incident: timeline and thread."""

        def work(session: Session) -> None:
            incident = session.get(Incident, incident_id)
            if incident is None:
                return
            who = ", ".join(targets)
            timeline.add(
                session,
                incident_id,
                "responders_requested",
                f"Asked PagerDuty for more responders on {pd_incident_id}: {who}",
                at=self.clock(),
                actor=by,
                data={"pagerduty_incident_id": pd_incident_id, "targets": list(targets)},
            )
            line = f":sos: <@{by}> asked PagerDuty for more responders: {escape(who)}"
            enqueue_reply(session, incident, *note_reply(line), priority=INTERACTIVE)

        run_tx(self.engine, work)


def _paged_line(service: str, pd_incident: dict[str, Any], oncall: str | None) -> str:
    number = pd_incident.get("incident_number")
    label = escape(f"#{number} {pd_incident.get('title') or ''}".strip())
    url = str(pd_incident.get("html_url") or "").replace("|", "%7C").replace(">", "%3E")
    link = f"<{url}|{label}>" if url.startswith("https://") else label
    line = f":pager: Paged *{escape(service)}* on PagerDuty: {link}"
    return line + (f" — {escape(oncall)} is on call." if oncall else ".")
