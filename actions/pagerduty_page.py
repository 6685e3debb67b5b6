"""``page_service``: open a PagerDuty incident for a catalog service, and link it to opsbot's.

    plan   the catalog's ``pagerduty:`` block (PagerDuty needs the ``service`` id to open an
           incident; ``escalation_policy``, when set, pages instead of the service's own), who is
           on call now (``bot.incidents.oncall``), whether the opsbot incident is already on
           PagerDuty (then: nothing to do); pins the ids, the title, the ``incident_key``
    apply  re-checks the catalog against the pins, ``POST /incidents`` with the ``incident_key``,
           then links the PagerDuty incident to opsbot's (``ctx.paging``: the incident's
           ``pagerduty_incident_id``/``pagerduty_url``, the timeline, a line in the thread, the
           root redraw)

Once: PagerDuty opens at most one open incident per ``incident_key`` on a service; a second
``POST`` is its 400, and the adapter reads the open incident back (``created=False``), so a retry
links the incident the first try opened and pages no one again. The key is the SHA-256 of the
opsbot incident's group key, the dedup key Alertmanager's own PagerDuty receiver sends: opsbot's
PagerDuty webhook intake links ``incident.triggered`` to the opsbot incident by it, even when the
webhook arrives before apply records the link. Without an opsbot incident the key comes from
``ctx.key`` (or, without one, from the service and title).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from actions.pagerduty_actions import describe, pagerduty, read_incident
from bot.catalog.model import Paging, Service
from bot.errors import ExternalServiceError
from bot.incidents.oncall import NotPaged, OnCallNow, on_call
from bot.incidents.paging import PageFacts

TITLE_MAX = 1024  # PagerDuty shows (and pages with) the start of longer titles only
DETAILS_MAX = 10_000


class PageParams(Params):
    service: str = Field(
        min_length=1, max_length=128, description="The catalog service whose on-call to page."
    )
    title: str | None = Field(
        None,
        min_length=1,
        max_length=TITLE_MAX,
        description="What PagerDuty pages with; default: the opsbot incident's title.",
    )
    urgency: Literal["high", "low"] = Field("high", description="PagerDuty urgency.")
    details: str = Field(
        "", max_length=DETAILS_MAX, description="The PagerDuty incident's body (free text)."
    )
    incident_id: int | None = Field(
        None,
        ge=1,
        description="opsbot's incident to link the PagerDuty incident to (default: the "
        "incident this run is for, if any).",
    )


def incident_key(facts: PageFacts | None, key: str, service: str, title: str) -> str:
    """PagerDuty's dedup key for this page (see the module docstring)."""
    if facts is not None:
        return hashlib.sha256(facts.group_key.encode()).hexdigest()
    basis = key or f"{service}\n{title}"
    return "opsbot-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def who_is_on_call(now: OnCallNow) -> list[str]:
    """``level 1: Dana Scully until 2026-12-07 18:00 UTC`` for each level on call."""
    lines = []
    for oncall in now.levels:
        until = f" until {oncall.end:%Y-%m-%d %H:%M} UTC" if oncall.end else ""
        lines.append(f"level {oncall.level}: {oncall.name}{until}")
    return lines or ["nobody is on call on this escalation policy now"]


class PageService(Action[PageParams]):
    name = "page_service"
    description = "Page a service's on-call: open a PagerDuty incident and link it to opsbot's."
    params_model = PageParams

    def target(self, ctx: ActionContext, params: PageParams) -> Target:
        return Target(None, f"pagerduty/service/{params.service}")

    def plan(self, ctx: ActionContext, params: PageParams) -> Plan:
        client = pagerduty(ctx)
        entry, paging, service_id = _paging(ctx, params.service)
        facts = _facts(ctx, params)
        if facts is not None and facts.pagerduty_incident_id:
            linked = read_incident(client, facts.pagerduty_incident_id)
            if linked.get("status") != "resolved":
                return Plan(
                    summary=f"#{facts.id} is already on PagerDuty as {describe(linked)} "
                    f"({linked.get('status')}): to ask more people, "
                    "`/ops page @name|email|<service>|<escalation policy id>`",
                    pinned={"pagerduty_incident_id": facts.pagerduty_incident_id},
                    noop=True,
                )
        title = params.title or (facts.title if facts else f"{params.service}: paged by opsbot")
        key = incident_key(facts, ctx.key, params.service, title)
        details = params.details or _details(facts, title, ctx.actor)
        lines = [f"PagerDuty service {service_id}"]
        oncall: str | None = None
        try:
            now = on_call(client, entry, ctx.clock())
        except (ExternalServiceError, NotPaged) as exc:
            lines.append(f"who is on call could not be read: {exc}")
        else:
            oncall = now.primary.name if now.primary else None
            lines[0] += f", escalation policy {now.escalation_policy} ({now.escalation_policy_id})"
            lines += who_is_on_call(now)
        open_already = client.find_open_incident(service_id, key)
        lines += [
            f"title: {title}",
            f"as {client.from_email}; incident_key {key}: a retry opens no second incident",
        ]
        if facts is not None:
            lines.append(f"linked to opsbot incident #{facts.id}")
        pinned: dict[str, Any] = {
            "service_id": service_id,
            "escalation_policy_id": paging.escalation_policy,
            "incident_key": key,
            "title": title,
            "details": details,
            "incident_id": facts.id if facts else None,
            "oncall": oncall,
        }
        if open_already is not None:
            return Plan(
                summary=f"Link PagerDuty incident {describe(open_already)}, already open for "
                f"this page on {params.service}",
                lines=lines,
                pinned=pinned,
            )
        who = f"{oncall} is on call" if oncall else "nobody is on call on level 1 now"
        return Plan(
            summary=f"Page {params.service} on PagerDuty ({params.urgency} urgency): {who}",
            lines=lines,
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: PageParams, plan: Plan) -> Result:
        client = pagerduty(ctx)
        _, paging, service_id = _paging(ctx, params.service)
        pinned = plan.pinned
        if (service_id, paging.escalation_policy) != (
            pinned.get("service_id"),
            pinned.get("escalation_policy_id"),
        ):
            raise ActionRefused(
                f"the catalog now pages {params.service} through PagerDuty service {service_id} "
                f"(escalation policy {paging.escalation_policy}), not what was approved "
                f"({pinned.get('service_id')}, {pinned.get('escalation_policy_id')}): ask again"
            )
        opened = client.create_incident(
            service_id,
            str(pinned["title"]),
            urgency=params.urgency,
            escalation_policy_id=paging.escalation_policy,
            details=str(pinned.get("details") or "") or None,
            incident_key=str(pinned["incident_key"]),
        )
        incident = opened.incident
        link_to = pinned.get("incident_id")
        if isinstance(link_to, int) and ctx.paging is not None:
            ctx.paging.link(
                link_to,
                incident,
                by=ctx.actor,
                paged=params.service,
                oncall=pinned.get("oncall"),
                created=opened.created,
            )
        verb = "Paged" if opened.created else "Already paged"
        return Result(
            True,
            f"{verb} {params.service} on PagerDuty: {describe(incident)}",
            {
                "incident_id": incident.get("id"),
                "incident_number": incident.get("incident_number"),
                "html_url": incident.get("html_url"),
                "created": opened.created,
                "oncall": pinned.get("oncall"),
            },
        )


def _paging(ctx: ActionContext, name: str) -> tuple[Service, Paging, str]:
    """The catalog entry, its ``pagerduty:`` block and PagerDuty service id, or a refusal."""
    entry = ctx.catalog.get(name) if ctx.catalog is not None else None
    if entry is None:
        raise ActionRefused(f"{name} is not in the service catalog")
    if entry.pagerduty is None:
        raise ActionRefused(
            f"{name} has no `pagerduty:` block in the service catalog: nobody to page"
        )
    if entry.pagerduty.service is None:
        raise ActionRefused(
            f"{name} names only an escalation policy: PagerDuty opens incidents on a service, "
            "so add its PagerDuty `service` id to the catalog (an open PagerDuty incident can "
            f"still ask that policy to join: `/ops page {entry.pagerduty.escalation_policy}`)"
        )
    return entry, entry.pagerduty, entry.pagerduty.service


def _facts(ctx: ActionContext, params: PageParams) -> PageFacts | None:
    incident_id = params.incident_id if params.incident_id is not None else ctx.incident_id
    if incident_id is None:
        return None
    if ctx.paging is None:
        raise ActionRefused("opsbot's incidents are not available to this run")
    facts = ctx.paging.facts(incident_id)
    if facts is None:
        raise ActionRefused(f"there is no incident #{incident_id}")
    return facts


def _details(facts: PageFacts | None, title: str, actor: str) -> str:
    lines = [f"Paged from opsbot by {actor}."]
    if facts is not None:
        lines.append(f"opsbot incident #{facts.id}: {facts.title} ({facts.status})")
    else:
        lines.append(title)
    return "\n".join(lines)
