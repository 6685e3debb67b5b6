"""PagerDuty actions: ``pagerduty_ack``, ``pagerduty_resolve``, ``pagerduty_note``.

All three act through ``ctx.pagerduty`` (``bot.clients.pagerduty.PagerDutyClient``), as the
PagerDuty user whose email the client sends in ``From``; without it they refuse ("PagerDuty is
not configured"). An unknown incident is refused too (PagerDuty's 404); other PagerDuty failures
come out as ``ExternalServiceError`` with PagerDuty's message.

Acknowledge and resolve only move an incident forward (triggered → acknowledged → resolved),
so the status seen at plan time is recorded in ``pinned`` but a change since then needs no new
approval: apply reads the incident again and acts only if it is not yet in (or past) the wanted
state. A retry, or someone acking in PagerDuty first, reports done without a second ``PUT``.

A note carries a trailing marker made from ``ctx.key`` (``\\n— opsbot <10 hex>``); apply lists
the incident's notes first and adds nothing when one already ends with it, so a retried run
never posts the same note twice. With an empty ``ctx.key`` the marker comes from the incident
and the content instead (the same note is then added once).
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from typing import Any, ClassVar

from pydantic import Field, field_validator

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from bot.clients.pagerduty import PagerDutyClient
from bot.errors import ExternalServiceError

# PagerDuty incident ids: "P" + 6 or so (older), "Q" + 13 or so (newer); never the #number.
INCIDENT_ID = r"^[PQ][A-Z0-9]{1,63}$"
NOTE_MAX = 25_000  # PagerDuty's limit on a note's content, marker included
MARKER_PREFIX = "\n— opsbot "
MARKER_RESERVE = 40  # room kept for the marker
PREVIEW = 120


class IncidentParams(Params):
    incident_id: str = Field(
        pattern=INCIDENT_ID,
        description="The PagerDuty incident id, like PABC123 (not the incident number).",
    )


class NoteParams(IncidentParams):
    content: str = Field(
        min_length=1,
        max_length=NOTE_MAX - MARKER_RESERVE,
        description="The note's text, as people will read it in PagerDuty.",
    )

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content is blank")
        return value


def pagerduty(ctx: ActionContext) -> PagerDutyClient:
    if ctx.pagerduty is None:
        raise ActionRefused("PagerDuty is not configured")
    return ctx.pagerduty


def read_incident(client: PagerDutyClient, incident_id: str) -> dict[str, Any]:
    try:
        return client.get_incident(incident_id)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(f"PagerDuty has no incident {incident_id}") from exc
        raise


def describe(incident: dict[str, Any]) -> str:
    """``#123 (PABC123) 'Fraud scorer errors'``."""
    return f"#{incident.get('incident_number')} ({incident.get('id')}) '{incident.get('title')}'"


def facts(incident: dict[str, Any], *, changed: bool) -> dict[str, Any]:
    return {
        "incident_id": incident.get("id"),
        "incident_number": incident.get("incident_number"),
        "status": incident.get("status"),
        "html_url": incident.get("html_url"),
        "changed": changed,
    }


def check_pinned(params: IncidentParams, plan: Plan, incident: dict[str, Any]) -> None:
    """The approved plan must be about this very incident."""
    pinned_id = plan.pinned.get("incident_id")
    pinned_number = plan.pinned.get("incident_number")
    if pinned_id not in (None, params.incident_id) or pinned_number not in (
        None,
        incident.get("incident_number"),
    ):
        raise ActionRefused(
            f"the approved plan was for PagerDuty incident {pinned_id} #{pinned_number}, "
            f"not {describe(incident)}"
        )


class _StatusAction(Action[IncidentParams]):
    params_model = IncidentParams
    status: ClassVar[str]  # what PagerDuty is told
    verb: ClassVar[str]  # "Acknowledge"
    past: ClassVar[str]  # "Acknowledged"
    done: ClassVar[tuple[str, ...]]  # states in which there is nothing to do

    def target(self, ctx: ActionContext, params: IncidentParams) -> Target:
        return Target(None, f"pagerduty/{params.incident_id}")

    def plan(self, ctx: ActionContext, params: IncidentParams) -> Plan:
        client = pagerduty(ctx)
        incident = read_incident(client, params.incident_id)
        current = str(incident.get("status"))
        pinned = {
            "incident_id": params.incident_id,
            "incident_number": incident.get("incident_number"),
            "status": current,
        }
        lines = [f"status: {current} → {self.status}", f"as {client.from_email}"]
        if incident.get("html_url"):
            lines.append(str(incident["html_url"]))
        if current in self.done:
            return Plan(
                summary=f"PagerDuty incident {describe(incident)} is already {current}: "
                f"nothing to {self.verb.lower()}",
                lines=lines[2:],
                pinned=pinned,
                noop=True,
            )
        return Plan(
            summary=f"{self.verb} PagerDuty incident {describe(incident)} (currently {current})",
            lines=lines,
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: IncidentParams, plan: Plan) -> Result:
        client = pagerduty(ctx)
        incident = read_incident(client, params.incident_id)
        check_pinned(params, plan, incident)
        if incident.get("status") in self.done:
            return self._already(incident)
        try:
            updated = self._change(client, params.incident_id)
        except ExternalServiceError as exc:
            if exc.status != 400:
                raise
            incident = read_incident(client, params.incident_id)  # did someone get there first?
            if incident.get("status") in self.done:
                return self._already(incident)
            raise
        return Result(
            True,
            f"{self.past} PagerDuty incident {describe(updated)}",
            facts(updated, changed=True),
        )

    def _already(self, incident: dict[str, Any]) -> Result:
        return Result(
            True,
            f"PagerDuty incident {describe(incident)} is already {incident.get('status')}",
            facts(incident, changed=False),
        )

    @abstractmethod
    def _change(self, client: PagerDutyClient, incident_id: str) -> dict[str, Any]: ...


class AcknowledgePagerDutyIncident(_StatusAction):
    name = "pagerduty_ack"
    description = "Acknowledge a PagerDuty incident (stops its escalation)."
    status = "acknowledged"
    verb, past = "Acknowledge", "Acknowledged"
    done = ("acknowledged", "resolved")

    def _change(self, client: PagerDutyClient, incident_id: str) -> dict[str, Any]:
        return client.acknowledge(incident_id)


class ResolvePagerDutyIncident(_StatusAction):
    name = "pagerduty_resolve"
    description = "Resolve a PagerDuty incident."
    status = "resolved"
    verb, past = "Resolve", "Resolved"
    done = ("resolved",)

    def _change(self, client: PagerDutyClient, incident_id: str) -> dict[str, Any]:
        return client.resolve(incident_id)


def note_marker(key: str, incident_id: str, content: str) -> str:
    """The trailing line that identifies this run's note: ``\\n— opsbot <10 hex>``."""
    basis = key or f"content:{incident_id}\n{content}"
    return MARKER_PREFIX + hashlib.sha256(basis.encode()).hexdigest()[:10]


def _has_marker(notes: list[dict[str, Any]], marker: str) -> dict[str, Any] | None:
    tail = marker.strip()
    for note in notes:
        if str(note.get("content", "")).rstrip().endswith(tail):
            return note
    return None


class AddPagerDutyNote(Action[NoteParams]):
    name = "pagerduty_note"
    description = "Add a note to a PagerDuty incident's timeline."
    params_model = NoteParams

    def target(self, ctx: ActionContext, params: NoteParams) -> Target:
        return Target(None, f"pagerduty/{params.incident_id}")

    def plan(self, ctx: ActionContext, params: NoteParams) -> Plan:
        client = pagerduty(ctx)
        incident = read_incident(client, params.incident_id)
        marker = note_marker(ctx.key, params.incident_id, params.content)
        pinned = {
            "incident_id": params.incident_id,
            "incident_number": incident.get("incident_number"),
            "marker": marker.strip(),
        }
        if _has_marker(client.list_notes(params.incident_id), marker) is not None:
            return Plan(
                summary=f"PagerDuty incident {describe(incident)} already has this note",
                pinned=pinned,
                noop=True,
            )
        preview = params.content if len(params.content) <= PREVIEW else params.content[:PREVIEW]
        ellipsis = "" if len(params.content) <= PREVIEW else "…"
        return Plan(
            summary=f"Add a note to PagerDuty incident {describe(incident)}: '{preview}{ellipsis}'",
            lines=[
                f"{len(params.content)} characters, as {client.from_email}",
                f"ends with '{marker.strip()}' so that a retry adds no second note",
            ],
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: NoteParams, plan: Plan) -> Result:
        client = pagerduty(ctx)
        incident = read_incident(client, params.incident_id)
        check_pinned(params, plan, incident)
        marker = note_marker(ctx.key, params.incident_id, params.content)
        existing = _has_marker(client.list_notes(params.incident_id), marker)
        if existing is not None:
            return Result(
                True,
                f"PagerDuty incident {describe(incident)} already has this note",
                {**facts(incident, changed=False), "note_id": existing.get("id")},
            )
        note = client.add_note(params.incident_id, params.content + marker)
        return Result(
            True,
            f"Added a note to PagerDuty incident {describe(incident)}",
            {**facts(incident, changed=True), "note_id": note.get("id")},
        )
