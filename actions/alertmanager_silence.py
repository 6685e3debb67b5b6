"""Alertmanager silences: ``silence_alerts`` and ``expire_silence``.

Both act through ``ctx.alertmanager`` (``bot.clients.alertmanager.AlertmanagerClient``); without
it they refuse, naming ``OPSBOT_ALERTMANAGER_URL``. What opsbot made is recorded through
``ctx.silences`` (``bot/incidents/silences.py``): the row, the timeline, the thread, the root.

``silence_alerts`` (incident_id, matchers, ends_at, comment)
    plan   reads only: how many alerts Alertmanager holds that the matchers match now (and how
           many of them are silenced already), until when. ``noop`` when an active silence made
           for this incident with the very same matchers already lasts at least as long.
           Pins the matchers, the end and the marker.
    apply  once. Alertmanager has no idempotency key, so the comment ends with a marker made
           from ``ctx.key`` (`` [opsbot <10 hex>]``); apply lists the silences with these
           matchers first and creates none when one carries the marker (a retry, or a crash
           after the POST): it records that one and reports done.

``expire_silence`` (silence_id)
    plan   the silence as Alertmanager has it; ``noop`` when it is expired there and here.
    apply  DELETE (Alertmanager expires an expired one again without harm), then the expiry is
           recorded once (only the first recorder writes the timeline event and the reply).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import Field, field_validator

from actions.base import Action, ActionContext, ActionRefused, Params, Plan, Result, Target
from bot.clients.alertmanager import SILENCE_ID, AlertmanagerClient, SilenceInfo
from bot.errors import ExternalServiceError
from bot.incidents.group_labels import describe
from bot.incidents.silence_windows import WindowError, check_end, until_text
from bot.incidents.silences import NewSilence, thread_link
from bot.intake.times import UtcTime
from bot.render.silences import person
from bot.store.models import Incident

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_MATCHERS = 20
VALUE_MAX = 1024
MARKER_PREFIX = " [opsbot "
NOT_CONFIGURED = (
    "Alertmanager is not configured: set OPSBOT_ALERTMANAGER_URL to its address "
    "(e.g. http://alertmanager:9093)"
)


class SilenceParams(Params):
    incident_id: int = Field(ge=1, description="The opsbot incident the silence is for (#N).")
    matchers: dict[str, str] = Field(
        min_length=1,
        max_length=MAX_MATCHERS,
        description="Label name → value, each an equality matcher (the incident's group "
        "labels). A list of `name=value` strings is read the same way.",
    )
    ends_at: UtcTime = Field(
        description="When the silence ends: an ISO 8601 time with a timezone, in the future "
        "and at most 7 days ahead."
    )
    comment: str = Field(
        "",
        max_length=500,
        description="Why, in a person's words: added to the comment opsbot writes.",
    )

    @field_validator("matchers", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """``["service=fraud-scorer"]`` → ``{"service": "fraud-scorer"}``."""
        if not isinstance(value, list | tuple):
            return value
        pairs: dict[str, str] = {}
        for item in value:
            name, sep, label_value = str(item).partition("=")
            if not sep:
                raise ValueError(f"{item!r} is not name=value")
            if name.strip() in pairs:
                raise ValueError(f"label {name.strip()!r} is matched twice")
            pairs[name.strip()] = label_value
        return pairs

    @field_validator("matchers")
    @classmethod
    def _valid(cls, value: dict[str, str]) -> dict[str, str]:
        for name, label_value in value.items():
            if not LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a label name")
            if not label_value:
                raise ValueError(f"label {name!r} has no value to match")
            if len(label_value) > VALUE_MAX:
                raise ValueError(f"label {name!r}'s value is longer than {VALUE_MAX}")
        return dict(sorted(value.items()))


class ExpireParams(Params):
    silence_id: str = Field(
        pattern=SILENCE_ID.pattern,
        description="Alertmanager's silence id, a UUID (/ops unsilence also takes opsbot's "
        "number of it and finds the id).",
    )


def alertmanager(ctx: ActionContext) -> AlertmanagerClient:
    if ctx.alertmanager is None:
        raise ActionRefused(NOT_CONFIGURED)
    return ctx.alertmanager


def silence_marker(key: str, params: SilenceParams) -> str:
    """The comment's tail that identifies this run's silence: `` [opsbot <10 hex>]``."""
    basis = key or (
        f"silence:{params.incident_id}\n{describe(params.matchers)}\n{params.ends_at.isoformat()}"
    )
    return f"{MARKER_PREFIX}{hashlib.sha256(basis.encode()).hexdigest()[:10]}]"


def for_incident(ctx: ActionContext, params: SilenceParams) -> Incident | None:
    """The incident the silence is for (None where opsbot keeps no record: no ``ctx.silences``);
    ``ActionRefused`` when there is no such incident, before anything is made."""
    if ctx.silences is None:
        return None
    incident = ctx.silences.incident(params.incident_id)
    if incident is None:
        raise ActionRefused(f"There is no incident #{params.incident_id}.")
    return incident


def silence_comment(ctx: ActionContext, params: SilenceParams, incident: Incident | None) -> str:
    """``Silenced from opsbot by <@U…> for incident #12 <link>: <why> [opsbot 1a2b3c4d5e]``."""
    link = thread_link(incident) if incident is not None else None
    text = f"Silenced from opsbot by {person(ctx.actor)} for incident #{params.incident_id}"
    if link:
        text += f" {link}"
    if params.comment.strip():
        text += f": {params.comment.strip()}"
    return text + silence_marker(ctx.key, params)


def _short(silence_id: str) -> str:
    return silence_id[:8]


class SilenceAlerts(Action[SilenceParams]):
    name = "silence_alerts"
    description = (
        "Silence an incident's alerts in Alertmanager until a time (at most 7 days): a v2 "
        "silence of equality matchers, commented with who asked and the incident."
    )
    params_model = SilenceParams

    def target(self, ctx: ActionContext, params: SilenceParams) -> Target:
        scope = params.matchers.get("service") or describe(params.matchers)
        return Target(None, f"alertmanager/{scope}")

    def plan(self, ctx: ActionContext, params: SilenceParams) -> Plan:
        client = alertmanager(ctx)
        for_incident(ctx, params)
        now = ctx.clock()
        try:
            check_end(params.ends_at, now)
        except WindowError as exc:
            raise ActionRefused(f"The silence cannot end then: {exc}") from None
        what = describe(params.matchers)
        until = until_text(params.ends_at, now)
        marker = silence_marker(ctx.key, params)
        pinned = {
            "incident_id": params.incident_id,
            "matchers": params.matchers,
            "ends_at": params.ends_at.isoformat(),
            "marker": marker.strip(),
        }
        covering = self._covering(ctx, client, params)
        if covering is not None:
            return Plan(
                summary=f"Alerts matching {what} are already silenced until "
                f"{until_text(covering.ends_at, now)} for incident #{params.incident_id}",
                lines=[f"Alertmanager silence {covering.id}"],
                pinned=pinned,
                noop=True,
            )
        alerts = client.alerts(params.matchers)
        silenced = sum(1 for a in alerts if a.silenced_by)
        names = sorted({a.labels.get("alertname", "?") for a in alerts})
        held = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
        lines = [
            f"matches {held} Alertmanager holds now"
            + (f" ({', '.join(names[:5])})" if names else "")
            + (f", {silenced} of them silenced already" if silenced else ""),
            f"from now until {params.ends_at:%Y-%m-%d %H:%M} UTC",
            f"comment ends with '{marker.strip()}' so that a retry creates no second silence",
        ]
        return Plan(
            summary=f"Silence alerts matching {what} in Alertmanager until {until} "
            f"for incident #{params.incident_id}",
            lines=lines,
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: SilenceParams, plan: Plan) -> Result:
        client = alertmanager(ctx)
        if plan.pinned.get("matchers") not in (None, params.matchers) or plan.pinned.get(
            "ends_at"
        ) not in (None, params.ends_at.isoformat()):
            raise ActionRefused("the approved plan was for other matchers or another end")
        now = ctx.clock()
        if params.ends_at <= now:
            raise ActionRefused(
                f"the silence was to end at {params.ends_at:%Y-%m-%d %H:%M} UTC, which has "
                "passed: ask for a new one"
            )
        incident = for_incident(ctx, params)
        marker = silence_marker(ctx.key, params).strip()
        existing = next(
            (s for s in client.list_silences(params.matchers) if s.comment.endswith(marker)),
            None,
        )
        if existing is not None:
            silence_id, comment, starts_at = existing.id, existing.comment, existing.starts_at
        else:
            comment = silence_comment(ctx, params, incident)
            starts_at = now
            silence_id = client.create_silence(
                params.matchers,
                starts_at=now,
                ends_at=params.ends_at,
                created_by=f"opsbot ({ctx.actor})",
                comment=comment,
            )
        number = None
        if ctx.silences is not None:
            row = ctx.silences.record(
                NewSilence(
                    incident_id=params.incident_id,
                    silence_id=silence_id,
                    matchers=params.matchers,
                    starts_at=starts_at,
                    ends_at=params.ends_at,
                    created_by=ctx.actor,
                    comment=comment,
                )
            )
            number = row.id
        ref = f"silence {number}, " if number is not None else ""
        return Result(
            True,
            f"Silenced alerts matching {describe(params.matchers)} until "
            f"{until_text(params.ends_at, now)} ({ref}Alertmanager {_short(silence_id)})",
            {
                "silence": number,
                "silence_id": silence_id,
                "matchers": params.matchers,
                "ends_at": params.ends_at.isoformat(),
                "changed": existing is None,
            },
        )

    @staticmethod
    def _covering(
        ctx: ActionContext, client: AlertmanagerClient, params: SilenceParams
    ) -> SilenceInfo | None:
        """An active silence made for this incident with exactly these matchers, lasting at
        least until ``ends_at``."""
        if ctx.silences is None:
            return None
        ours = ctx.silences.made_for(params.incident_id)
        for silence in client.list_silences(params.matchers):
            if (
                silence.id in ours
                and silence.state == "active"
                and silence.equality_matchers() == params.matchers
                and silence.ends_at >= params.ends_at
            ):
                return silence
        return None


def read_silence(client: AlertmanagerClient, silence_id: str) -> SilenceInfo:
    try:
        return client.get_silence(silence_id)
    except ExternalServiceError as exc:
        if exc.status == 404:
            raise ActionRefused(f"Alertmanager has no silence {silence_id}") from exc
        raise


class ExpireSilence(Action[ExpireParams]):
    name = "expire_silence"
    description = "Expire an Alertmanager silence now: its alerts notify again."
    params_model = ExpireParams

    def target(self, ctx: ActionContext, params: ExpireParams) -> Target:
        return Target(None, f"alertmanager/silence/{params.silence_id}")

    def plan(self, ctx: ActionContext, params: ExpireParams) -> Plan:
        client = alertmanager(ctx)
        silence = read_silence(client, params.silence_id)
        row = ctx.silences.get(params.silence_id) if ctx.silences is not None else None
        name = f"silence {row.id}" if row is not None else f"silence {_short(silence.id)}"
        what = describe({m.name: m.value for m in silence.matchers})
        pinned = {"silence_id": silence.id}
        lines = [f"made by {silence.created_by}: {silence.comment}"]
        if silence.state == "expired":
            if row is None or row.expired_at is not None:
                return Plan(
                    summary=f"{name.capitalize()} ({what}) is already expired",
                    lines=lines,
                    pinned=pinned,
                    noop=True,
                )
            return Plan(
                summary=f"{name.capitalize()} ({what}) was expired in Alertmanager already: "
                "record that here",
                lines=lines,
                pinned=pinned,
            )
        return Plan(
            summary=f"Expire {name} ({what}) now instead of at "
            f"{until_text(silence.ends_at, ctx.clock())}: its alerts notify again",
            lines=lines,
            pinned=pinned,
        )

    def apply(self, ctx: ActionContext, params: ExpireParams, plan: Plan) -> Result:
        client = alertmanager(ctx)
        silence = read_silence(client, params.silence_id)
        changed = silence.state != "expired"
        if changed:
            try:
                client.expire_silence(params.silence_id)
            except ExternalServiceError as exc:
                if exc.status == 404:
                    raise ActionRefused(f"Alertmanager has no silence {params.silence_id}") from exc
                raise
        row = None
        if ctx.silences is not None:
            row = ctx.silences.record_expired(
                params.silence_id, ctx.actor if changed else "alertmanager"
            )
        name = f"silence {row.id}" if row is not None else f"silence {_short(silence.id)}"
        what = describe({m.name: m.value for m in silence.matchers})
        summary = f"Expired {name} ({what})" if changed else f"{name.capitalize()} was expired"
        return Result(
            True,
            summary,
            {
                "silence": row.id if row is not None else None,
                "silence_id": silence.id,
                "changed": changed,
            },
        )
