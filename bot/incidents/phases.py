"""How long each phase of an incident took, from what the store recorded.

    deviated ──(detect)──> alerted ──(acknowledge)──> acknowledged
                              └──────(mitigate)─────> first successful remediation
                              └──────(resolve)──────> resolved

- ``alerted_at``: the first alert's ``startsAt`` (Alertmanager's own start, which is when the
  problem was detected); the incident's ``opened_at`` when it has no alert (PagerDuty-only).
- ``deviated_at``: the earliest first deviation of a catalog signal, when the metrics
  enrichment found one (``data.signals[].first_deviation_at``); time to detect is alerted minus
  deviated, and unknown without it.
- ``mitigated_at``: the end of the first action run on this incident that succeeded, was not a
  dry run or a no-op, and whose action ``remediates`` (rollback, scale, restart, rerun).
- Every duration counts from ``alerted_at``; a phase that has not happened is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from bot.store.models import Alert, Enrichment, Incident
from bot.store.run_models import ActionRun, RunStatus


@dataclass(frozen=True)
class Phases:
    incident_id: int
    alerted_at: datetime
    deviated_at: datetime | None
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    mitigated_by: str | None  # the action that mitigated, e.g. "rollback_deployment"
    resolved_at: datetime | None

    @property
    def time_to_detect(self) -> timedelta | None:
        if self.deviated_at is None:
            return None
        return max(self.alerted_at - self.deviated_at, timedelta(0))

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return _since(self.alerted_at, self.acknowledged_at)

    @property
    def time_to_mitigate(self) -> timedelta | None:
        return _since(self.alerted_at, self.mitigated_at)

    @property
    def time_to_resolve(self) -> timedelta | None:
        return _since(self.alerted_at, self.resolved_at)

    def as_json(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at is not None else None

        def secs(d: timedelta | None) -> float | None:
            return d.total_seconds() if d is not None else None

        return {
            "alerted_at": iso(self.alerted_at),
            "deviated_at": iso(self.deviated_at),
            "acknowledged_at": iso(self.acknowledged_at),
            "mitigated_at": iso(self.mitigated_at),
            "mitigated_by": self.mitigated_by,
            "resolved_at": iso(self.resolved_at),
            "time_to_detect_s": secs(self.time_to_detect),
            "time_to_acknowledge_s": secs(self.time_to_acknowledge),
            "time_to_mitigate_s": secs(self.time_to_mitigate),
            "time_to_resolve_s": secs(self.time_to_resolve),
        }


def _since(start: datetime, end: datetime | None) -> timedelta | None:
    return max(end - start, timedelta(0)) if end is not None else None


def phases_of(session: Session, incident: Incident) -> Phases:
    assert incident.id is not None
    first_alert = session.exec(
        select(func.min(Alert.starts_at)).where(Alert.incident_id == incident.id)
    ).one()
    alerted_at = min(first_alert, incident.opened_at) if first_alert else incident.opened_at
    mitigated_at, mitigated_by = first_mitigation(session, incident.id)
    return Phases(
        incident_id=incident.id,
        alerted_at=alerted_at,
        deviated_at=first_deviation(session, incident.id),
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=mitigated_at,
        mitigated_by=mitigated_by,
        resolved_at=incident.resolved_at,
    )


def first_mitigation(session: Session, incident_id: int) -> tuple[datetime | None, str | None]:
    """When the first successful remediation on this incident finished, and which action."""
    from actions.registry import get as get_action

    runs = session.exec(
        select(ActionRun)
        .where(
            ActionRun.incident_id == incident_id,
            ActionRun.status == RunStatus.SUCCEEDED,
            col(ActionRun.dry_run).is_(False),
        )
        .order_by(col(ActionRun.updated_at), col(ActionRun.id))
    ).all()
    for run in runs:
        action = get_action(run.action)
        if action is None or not action.remediates or run.plan.get("noop"):
            continue
        return run.updated_at, run.action
    return None, None


def first_deviation(session: Session, incident_id: int) -> datetime | None:
    """The earliest first deviation the metrics enrichment found, if any."""
    row = session.exec(
        select(Enrichment).where(
            Enrichment.incident_id == incident_id, Enrichment.source == "metrics"
        )
    ).first()
    if row is None:
        return None
    found: list[datetime] = []
    for signal in row.data.get("signals", []):
        raw = signal.get("first_deviation_at") if isinstance(signal, dict) else None
        if isinstance(raw, str):
            try:
                found.append(datetime.fromisoformat(raw))
            except ValueError:
                continue
    return min(found) if found else None
