"""``request_responders``: ask more people to join a PagerDuty incident (escalate).

    plan   reads the PagerDuty incident (404: refused; resolved: refused), resolves each user to
           exactly one PagerDuty user (an email matches exactly, a name exactly or as the only
           match), reads who is on call now for each escalation policy; pins the targets, the
           message and its marker
    apply  reads the incident's ``responder_requests``: one whose message ends with this run's
           marker means it was asked already, and a retry asks nothing; else
           ``POST /incidents/{id}/responder_requests`` as the ``From`` user (its PagerDuty id is
           the ``requester_id``), then the timeline and the thread say so (``ctx.paging``)

The marker is the same trailing line as ``pagerduty_note``'s (``\\n— opsbot <10 hex>``), made
from ``ctx.key``: PagerDuty keeps the message with the request, so the marker is what makes the
request findable. An account without PagerDuty's responder requests feature does not return
``responder_requests``; there a retry cannot see the first request.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from actions.base import Action, ActionContext, ActionRefused, Plan, Result, Target
from actions.pagerduty_actions import (
    IncidentParams,
    check_pinned,
    describe,
    note_marker,
    pagerduty,
    read_incident,
)
from bot.catalog.model import PAGERDUTY_ID
from bot.clients.pagerduty import PagerDutyClient, Responder

MESSAGE_MAX = 1000
TARGETS_MAX = 10

UserRef = Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S")]
PolicyId = Annotated[str, Field(pattern=PAGERDUTY_ID)]


class RespondersParams(IncidentParams):
    users: list[UserRef] = Field(
        default_factory=list,
        max_length=TARGETS_MAX,
        description="PagerDuty users to ask: an email, or a name that matches one user.",
    )
    escalation_policies: list[PolicyId] = Field(
        default_factory=list,
        max_length=TARGETS_MAX,
        description="PagerDuty escalation policy ids: whoever is on call there is asked.",
    )
    message: str = Field(
        "", max_length=MESSAGE_MAX, description="What the people asked read; default: a line."
    )

    @model_validator(mode="after")
    def _someone(self) -> RespondersParams:
        if not self.users and not self.escalation_policies:
            raise ValueError("name at least one user or escalation policy to ask")
        return self


def find_user(client: PagerDutyClient, who: str) -> dict[str, Any]:
    """The one PagerDuty user ``who`` names (an email, or a name), or a refusal saying why."""
    wanted = who.strip().lstrip("@").lower()
    found = client.find_users(wanted)
    field = "email" if "@" in wanted else "name"
    exact = [u for u in found if str(u.get(field, "")).lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    if not exact and len(found) == 1 and field == "name":
        return found[0]
    if not found:
        raise ActionRefused(f"no PagerDuty user matches {who!r}")
    names = ", ".join(f"{u.get('name')} <{u.get('email')}>" for u in found[:5])
    raise ActionRefused(f"{who!r} matches {len(found)} PagerDuty users ({names}): use an email")


def asked_already(incident: dict[str, Any], marker: str) -> dict[str, Any] | None:
    """The incident's responder request that ends with ``marker``, if any."""
    tail = marker.strip()
    for request in incident.get("responder_requests") or []:
        if isinstance(request, dict) and str(request.get("message", "")).rstrip().endswith(tail):
            return request
    return None


class RequestResponders(Action[RespondersParams]):
    name = "request_responders"
    description = "Ask more people (users, escalation policies) to join a PagerDuty incident."
    params_model = RespondersParams

    def target(self, ctx: ActionContext, params: RespondersParams) -> Target:
        return Target(None, f"pagerduty/{params.incident_id}")

    def plan(self, ctx: ActionContext, params: RespondersParams) -> Plan:
        client = pagerduty(ctx)
        incident = read_incident(client, params.incident_id)
        if incident.get("status") == "resolved":
            raise ActionRefused(f"PagerDuty incident {describe(incident)} is resolved")
        basis = "\n".join([params.message, *params.users, *params.escalation_policies])
        marker = note_marker(ctx.key, params.incident_id, basis)
        pinned: dict[str, Any] = {
            "incident_id": params.incident_id,
            "incident_number": incident.get("incident_number"),
            "marker": marker.strip(),
        }
        if asked_already(incident, marker) is not None:
            return Plan(
                summary=f"PagerDuty incident {describe(incident)} already has this request",
                pinned=pinned,
                noop=True,
            )
        targets: list[dict[str, str]] = []
        lines = []
        for who in params.users:
            user = find_user(client, who)
            targets.append({"kind": "user", "id": str(user["id"]), "name": str(user["name"])})
            lines.append(f"user {user['name']} <{user.get('email')}>")
        for policy in params.escalation_policies:
            oncall = client.oncalls(policy)
            name = oncall[0].escalation_policy if oncall else policy
            first = [o.name for o in oncall if o.level == 1]
            now = ", ".join(first) if first else "nobody"
            targets.append({"kind": "escalation_policy", "id": policy, "name": name})
            lines.append(f"escalation policy {name} ({policy}): {now} on call now")
        text = params.message.strip() or (
            f"Please join PagerDuty incident #{incident.get('incident_number')}: "
            f"{incident.get('title')}"
        )
        message = text + marker
        lines += [f"message: {text}", f"as {client.from_email}"]
        pinned |= {"targets": targets, "message": message}
        names = ", ".join(t["name"] for t in targets)
        return Plan(
            summary=f"Ask {names} to join PagerDuty incident {describe(incident)}",
            lines=lines,
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: RespondersParams, plan: Plan) -> Result:
        client = pagerduty(ctx)
        incident = read_incident(client, params.incident_id)
        check_pinned(params, plan, incident)
        marker = str(plan.pinned["marker"])
        targets = list(plan.pinned.get("targets") or [])
        names = [str(t["name"]) for t in targets]
        facts = {
            "incident_id": params.incident_id,
            "incident_number": incident.get("incident_number"),
            "html_url": incident.get("html_url"),
            "targets": names,
        }
        if asked_already(incident, marker) is not None:
            return Result(
                True,
                f"PagerDuty incident {describe(incident)} already has this request",
                {**facts, "changed": False},
            )
        if incident.get("status") == "resolved":
            raise ActionRefused(f"PagerDuty incident {describe(incident)} was resolved meanwhile")
        client.request_responders(
            params.incident_id,
            client.requester_id(),
            str(plan.pinned["message"]),
            [_responder(t) for t in targets],
        )
        if ctx.incident_id is not None and ctx.paging is not None:
            ctx.paging.asked(ctx.incident_id, params.incident_id, by=ctx.actor, targets=names)
        return Result(
            True,
            f"Asked {', '.join(names)} to join PagerDuty incident {describe(incident)}",
            {**facts, "changed": True},
        )


def _responder(target: dict[str, Any]) -> Responder:
    if target.get("kind") == "user":
        return Responder("user", str(target["id"]))
    return Responder("escalation_policy", str(target["id"]))
