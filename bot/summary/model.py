"""The facts a summary is made of: plain frozen values, each with the timeline events it came from.

``SummaryFacts`` is what ``facts.gather`` returns and every renderer reads. Text fields that
came from outside opsbot (titles, labels, event texts, notes, plans, errors) are marked
untrusted: renderers quote them as data, never as markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.incidents.phases import Phases
from bot.store.models import IncidentStatus
from bot.store.oncall_models import FollowUp as FollowUpRow
from bot.store.oncall_models import FollowUpState
from bot.store.run_models import RunStatus

OPENED_KINDS = ("incident_opened",)
FIRING_KINDS = ("alert_firing",)
ACK_KINDS = ("acknowledged", "pagerduty_acknowledged")
RESOLVE_KINDS = ("incident_resolved", "resolved_by_person", "pagerduty_resolved")
NOTE_KIND = "note"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")  # a Slack user ID


def actors_of(actors: Iterable[str | None]) -> frozenset[str]:
    """The Slack user IDs among the actors of timeline events."""
    return frozenset(a for a in actors if a and USER_ID.match(a))


@dataclass(frozen=True)
class Event:
    """One timeline event, as read (``text`` and ``data`` are untrusted)."""

    id: int
    at: datetime
    kind: str
    actor: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    title: str
    status: str
    severity: str | None
    service: str | None
    source: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    runbook_url: str | None
    lead: str | None = None  # the incident lead's Slack user ID (``/ops lead``, "I'll lead")


@dataclass(frozen=True)
class AlertFact:
    alertname: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    summary: str  # the summary (or description) annotation: untrusted
    labels: dict[str, str] = field(default_factory=dict)  # untrusted
    annotations: dict[str, str] = field(default_factory=dict)  # untrusted


@dataclass(frozen=True)
class ModelVersion:
    """A model version the service ran during the incident (``during``: deployed after start)."""

    service: str
    model: str
    version: str
    environment: str
    deployed_at: datetime
    actor: str | None
    during: bool


@dataclass(frozen=True)
class Volume:
    """Predictions served in ``[start, end]`` by one ``volume`` signal, or why it is unknown."""

    signal: str
    service: str
    start: datetime
    end: datetime
    predictions: float | None = None
    error: str | None = None

    @property
    def per_second(self) -> float | None:
        seconds = (self.end - self.start).total_seconds()
        if self.predictions is None or seconds <= 0:
            return None
        return self.predictions / seconds


@dataclass(frozen=True)
class SuspectFact:
    rank: int
    kind: str
    ref: str
    reason: str
    score: float | None
    cites: tuple[int, ...]


@dataclass(frozen=True)
class Deviation:
    signal: str
    at: datetime
    cites: tuple[int, ...]


@dataclass(frozen=True)
class Unavailable:
    source: str
    reason: str
    cites: tuple[int, ...]


@dataclass(frozen=True)
class Note:
    """A person's note; ``text`` is what follows its prefix (``cause:``, ``todo:``, ...)."""

    event_id: int
    at: datetime
    actor: str | None
    text: str


@dataclass(frozen=True)
class ActionFact:
    run_id: int
    action: str
    status: str
    dry_run: bool
    requested_by: str
    requested_at: datetime
    approver: str | None
    approved_at: datetime | None
    finished_at: datetime | None
    plan: str  # the plan's summary: what it does, in words
    outcome: str | None  # the result's summary or the error
    playbook_run_id: int | None
    cites: tuple[int, ...]


@dataclass(frozen=True)
class PlaybookFact:
    run_id: int
    playbook: str
    status: str
    dry_run: bool
    requested_by: str
    started_at: datetime
    cites: tuple[int, ...]


@dataclass(frozen=True)
class JobFact:
    run_id: int
    kind: str
    template: str
    status: str
    requested_by: str
    submitted_at: datetime
    ended_at: datetime | None
    message: str | None
    log_tail: str | None  # untrusted
    cites: tuple[int, ...]


@dataclass(frozen=True)
class Tracked:
    """A follow-up tracked as an item (a ``follow_up`` row): its number, owner and state.
    ``text`` is untrusted."""

    id: int
    text: str
    owner: str | None
    done_by: str | None = None  # set once it is done
    done: bool = False

    @classmethod
    def of(cls, row: FollowUpRow) -> Tracked:
        assert row.id is not None
        done = row.state == FollowUpState.DONE
        return cls(row.id, row.text, row.owner, row.done_by if done else None, done)


@dataclass(frozen=True)
class FollowUp:
    """Something to do after the incident. ``text`` is rendered as data (may hold untrusted
    text); ``actor`` is who wrote it, for a person's note; ``tracked``: the item it is, for a
    note tracked since it was written (``bot/incidents/follow_ups.py``)."""

    text: str
    cites: tuple[int, ...]
    actor: str | None = None
    tracked: Tracked | None = None


@dataclass(frozen=True)
class PhaseCites:
    alerted: tuple[int, ...] = ()
    detected: tuple[int, ...] = ()
    acknowledged: tuple[int, ...] = ()
    mitigated: tuple[int, ...] = ()
    resolved: tuple[int, ...] = ()


@dataclass(frozen=True)
class SummaryFacts:
    incident: IncidentFacts
    now: datetime
    phases: Phases
    phase_cites: PhaseCites
    timeline: tuple[Event, ...]
    alerts: tuple[AlertFact, ...]
    services: tuple[str, ...]
    model_versions: tuple[ModelVersion, ...]
    volumes: tuple[Volume, ...]
    enrichment: tuple[int, ...]  # the latest ``enrichment`` event: () when none ran
    suspects: tuple[SuspectFact, ...]
    deviation: Deviation | None
    unavailable: tuple[Unavailable, ...]
    confirmed: tuple[Note, ...]
    actions: tuple[ActionFact, ...]
    playbooks: tuple[PlaybookFact, ...]
    jobs: tuple[JobFact, ...]
    follow_ups: tuple[FollowUp, ...]

    @property
    def final(self) -> bool:
        """The incident is resolved: the summary is final, not "so far"."""
        return self.incident.status == IncidentStatus.RESOLVED

    @property
    def end(self) -> datetime:
        return self.phases.resolved_at or self.now

    @property
    def duration(self) -> timedelta:
        return max(self.end - self.phases.alerted_at, timedelta(0))

    @property
    def event_ids(self) -> frozenset[int]:
        return frozenset(e.id for e in self.timeline)

    @property
    def tracked(self) -> tuple[Tracked, ...]:
        """The follow-ups that are tracked items, in the summary's order."""
        return tuple(f.tracked for f in self.follow_ups if f.tracked is not None)

    @property
    def actors(self) -> frozenset[str]:
        """Slack user IDs that acted on the timeline: the only ones a rendering may mention."""
        return actors_of(e.actor for e in self.timeline)

    def mitigation(self) -> ActionFact | None:
        """The action run that mitigated the incident (``phases.mitigated_by``), if any."""
        if self.phases.mitigated_by is None:
            return None
        runs = [
            a
            for a in self.actions
            if a.action == self.phases.mitigated_by
            and a.status == RunStatus.SUCCEEDED
            and not a.dry_run
        ]
        exact = [a for a in runs if a.finished_at == self.phases.mitigated_at]
        found = exact or runs
        return found[0] if found else None
