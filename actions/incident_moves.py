"""The incident's own bookkeeping as actions: ``declare_incident``, ``set_severity``, ``set_lead``,
``post_status_update``.

They change opsbot's record of an incident (through ``ctx.desk``, ``bot/incidents/desk.py``),
so like any action they are checked by policy, audited, dry-runnable and run once. They are
``open_to_all``: anyone may run them unless a policy rule names them (a ``*`` rule does not), as
anyone may declare an incident in the tools teams come from.

- declare: a retry finds the incident this run opened (the desk keys it by ``ctx.key``).
- severity: the plan pins the severity it saw; apply refuses if someone changed it since (a new
  request is needed), and reports done if it is already the wanted one. When the incident is
  linked to PagerDuty, its urgency follows: the two highest severities are ``high``.
- lead: a person's Slack ID; naming the current lead again is nothing to do.
- status update: into the thread, onto the timeline and to the service's stakeholder channel;
  a retry finds the update this run posted (keyed by ``ctx.key``) and posts nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from bot.incidents.desk import Quoted

if TYPE_CHECKING:
    from bot.incidents.desk import IncidentDesk, IncidentFacts

USER_ID = r"^[UW][A-Z0-9]{2,20}$"
SLACK_PERMALINK = r"^https://[a-z0-9-]{1,64}\.slack\.com/archives/[CDG][A-Z0-9]{2,20}/p[0-9]{6,20}$"
HIGH_URGENCY_LEVELS = 2  # sev1 and sev2 page with high urgency in PagerDuty


def desk(ctx: ActionContext) -> IncidentDesk:
    if ctx.desk is None:
        raise ActionRefused("incidents cannot be changed from here")
    return ctx.desk


def incident(ctx: ActionContext, incident_id: int) -> IncidentFacts:
    facts = desk(ctx).facts(incident_id)
    if facts is None:
        raise ActionRefused(f"there is no incident #{incident_id}")
    if facts.status == "resolved":
        raise ActionRefused(f"incident #{incident_id} is resolved")
    return facts


def check_severity(ctx: ActionContext, severity: str) -> None:
    levels = ctx.catalog.severities if ctx.catalog is not None else []
    if severity not in levels:
        raise ActionRefused(f"severity {severity!r} is not one of {', '.join(levels)}")


class DeclareParams(Params):
    title: str = Field(min_length=1, max_length=200)
    service: str | None = Field(None, max_length=128)
    severity: str = Field(min_length=1, max_length=32)
    description: str = Field("", max_length=3000)
    # The message it was declared from: its text (shown escaped), author and permalink.
    quote: str | None = Field(None, max_length=3000)
    quote_author: str | None = Field(None, pattern=USER_ID)
    quote_link: str | None = Field(None, pattern=SLACK_PERMALINK)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is blank")
        return value.strip()


class DeclareIncident(Action[DeclareParams]):
    name = "declare_incident"
    description = "Open an incident by hand, with its own thread, enrichment and timeline."
    params_model = DeclareParams
    open_to_all = True

    def target(self, ctx: ActionContext, params: DeclareParams) -> Target:
        entry = ctx.catalog.get(params.service) if ctx.catalog is not None else None
        namespace = entry.namespace if entry is not None else None
        return Target(namespace, f"incident/{params.service or 'unassigned'}")

    def plan(self, ctx: ActionContext, params: DeclareParams) -> Plan:
        desk(ctx)
        check_severity(ctx, params.severity)
        if params.service and (ctx.catalog is None or ctx.catalog.get(params.service) is None):
            raise ActionRefused(f"{params.service} is not a service in the catalog")
        where = f" for {params.service}" if params.service else ""
        lines = [f"title: {params.title}", f"severity: {params.severity}"]
        if params.quote:
            lines.append("quotes the message it was declared from")
        return Plan(summary=f"Declare a {params.severity} incident{where}", lines=lines)

    def apply(self, ctx: ActionContext, params: DeclareParams, plan: Plan) -> Result:
        declared = desk(ctx).declare(
            ctx.key,
            title=params.title,
            service=params.service,
            severity=params.severity,
            description=params.description,
            by=ctx.actor,
            quote=Quoted(params.quote, params.quote_author, params.quote_link)
            if params.quote
            else None,
        )
        verb = "Declared" if declared.created else "Already declared"
        return Result(
            True,
            f"{verb} incident #{declared.incident_id}: {params.title}",
            {"incident_id": declared.incident_id, "created": declared.created},
        )


class SeverityParams(Params):
    incident_id: int = Field(ge=1)
    severity: str = Field(min_length=1, max_length=32)


class SetSeverity(Action[SeverityParams]):
    name = "set_severity"
    description = "Change an incident's severity (and its PagerDuty urgency when linked)."
    params_model = SeverityParams
    open_to_all = True

    def target(self, ctx: ActionContext, params: SeverityParams) -> Target:
        return Target(None, f"incident/{params.incident_id}")

    def plan(self, ctx: ActionContext, params: SeverityParams) -> Plan:
        check_severity(ctx, params.severity)
        facts = incident(ctx, params.incident_id)
        pinned = {"severity": facts.severity}
        lines = [f"severity: {facts.severity or 'unset'} → {params.severity}"]
        if facts.pagerduty_incident_id and ctx.pagerduty is not None:
            lines.append(
                f"PagerDuty {facts.pagerduty_incident_id}: urgency {self._urgency(ctx, params)}"
            )
        if facts.severity == params.severity:
            return Plan(
                summary=f"Incident #{facts.id} is already {params.severity}",
                pinned=pinned,
                noop=True,
            )
        return Plan(
            summary=f"Set incident #{facts.id} to {params.severity}", lines=lines, pinned=pinned
        )

    def apply(self, ctx: ActionContext, params: SeverityParams, plan: Plan) -> Result:
        facts = incident(ctx, params.incident_id)
        if facts.severity == params.severity:
            return Result(True, f"Incident #{facts.id} is {params.severity}")
        if facts.severity != plan.pinned.get("severity"):
            raise ActionRefused(
                f"incident #{facts.id} is now {facts.severity or 'unset'}, not "
                f"{plan.pinned.get('severity') or 'unset'} as planned: ask again"
            )
        desk(ctx).set_severity(facts.id, params.severity, by=ctx.actor)
        summary = f"Incident #{facts.id} is now {params.severity}"
        if facts.pagerduty_incident_id and ctx.pagerduty is not None:
            urgency = self._urgency(ctx, params)
            ctx.pagerduty.set_urgency(facts.pagerduty_incident_id, urgency)
            summary += f"; PagerDuty {facts.pagerduty_incident_id} urgency {urgency}"
        return Result(True, summary, {"incident_id": facts.id, "severity": params.severity})

    def _urgency(self, ctx: ActionContext, params: SeverityParams) -> str:
        levels = ctx.catalog.severities if ctx.catalog is not None else []
        rank = levels.index(params.severity) if params.severity in levels else len(levels)
        return "high" if rank < HIGH_URGENCY_LEVELS else "low"


class LeadParams(Params):
    incident_id: int = Field(ge=1)
    lead: str = Field(pattern=USER_ID, description="The lead's Slack user ID")


class SetLead(Action[LeadParams]):
    name = "set_lead"
    description = "Name the incident lead."
    params_model = LeadParams
    open_to_all = True

    def target(self, ctx: ActionContext, params: LeadParams) -> Target:
        return Target(None, f"incident/{params.incident_id}")

    def plan(self, ctx: ActionContext, params: LeadParams) -> Plan:
        facts = incident(ctx, params.incident_id)
        if facts.lead == params.lead:
            return Plan(summary=f"{params.lead} already leads incident #{facts.id}", noop=True)
        # Plain IDs: plan lines are shown escaped. The root and the thread show the mention.
        return Plan(
            summary=f"{params.lead} leads incident #{facts.id}",
            lines=[f"lead: {facts.lead or 'nobody'} → {params.lead}"],
        )

    def apply(self, ctx: ActionContext, params: LeadParams, plan: Plan) -> Result:
        facts = incident(ctx, params.incident_id)
        desk(ctx).set_lead(facts.id, params.lead, by=ctx.actor)
        return Result(
            True,
            f"{params.lead} leads incident #{facts.id}",
            {"incident_id": facts.id, "lead": params.lead},
        )


class UpdateParams(Params):
    incident_id: int = Field(ge=1)
    text: str = Field(min_length=1, max_length=2500)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the update is blank")
        return value.strip()


class PostStatusUpdate(Action[UpdateParams]):
    name = "post_status_update"
    description = "Post a status update: thread, timeline and the stakeholders' channel."
    params_model = UpdateParams
    open_to_all = True

    def target(self, ctx: ActionContext, params: UpdateParams) -> Target:
        return Target(None, f"incident/{params.incident_id}")

    def plan(self, ctx: ActionContext, params: UpdateParams) -> Plan:
        facts = incident(ctx, params.incident_id)
        entry = ctx.catalog.get(facts.service) if ctx.catalog is not None else None
        where = ["the incident's thread", "the timeline"]
        if entry is not None and entry.stakeholder_channel:
            where.append(f"channel {entry.stakeholder_channel} (stakeholders of {facts.service})")
        return Plan(
            summary=f"Post a status update on incident #{facts.id}",
            lines=[f"to {', '.join(where)}", params.text],
        )

    def apply(self, ctx: ActionContext, params: UpdateParams, plan: Plan) -> Result:
        facts = incident(ctx, params.incident_id)
        posted = desk(ctx).status_update(ctx.key, facts.id, params.text, by=ctx.actor)
        verb = "Posted" if posted else "Already posted"
        return Result(True, f"{verb} the status update on incident #{facts.id}")
