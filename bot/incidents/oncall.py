"""Who is on call for a service, from PagerDuty, and when the shift changes hands.

    catalog service ── pagerduty.escalation_policy ─────────────┐
                   └── pagerduty.service → its escalation policy ┴─> GET /oncalls, now → +7 days
                                                                    └─> OnCallNow: each level now,
                                                                        the hand-over, who is next

Read-only, through the PagerDuty adapter and its timeout; a failure is the adapter's
``ExternalServiceError``. ``/ops oncall``, the ``oncall`` enrichment source (the root names the
person) and ``page_service``'s plan (who will be paged) all read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.catalog.model import Service
from bot.clients.pagerduty import OnCall, PagerDutyClient

WINDOW = timedelta(days=7)  # how far ahead to look for the next person on call


class NotPaged(Exception):
    """The service has no PagerDuty in the catalog (the message says what to add)."""


@dataclass(frozen=True)
class OnCallNow:
    service: str
    escalation_policy_id: str
    escalation_policy: str  # its name, as PagerDuty has it (the id when no one is on call)
    at: datetime
    levels: list[OnCall]  # on call at ``at``, level 1 first
    next: OnCall | None  # who is on call on level 1 after the hand-over

    @property
    def primary(self) -> OnCall | None:
        """Who PagerDuty pages first."""
        return self.levels[0] if self.levels and self.levels[0].level == 1 else None

    @property
    def handover(self) -> datetime | None:
        """When level 1 changes hands (None: it does not, as far as PagerDuty says)."""
        ends = [o.end for o in self.levels if o.level == 1 and o.end is not None]
        return min(ends) if ends else None


def escalation_policy(client: PagerDutyClient, service: Service) -> str:
    """The escalation policy that pages for ``service``: the catalog's, or its PagerDuty
    service's."""
    paging = service.pagerduty
    if paging is None:
        raise NotPaged(
            f"{service.name} has no `pagerduty:` block in the service catalog "
            "(its PagerDuty `service` and/or `escalation_policy`)."
        )
    if paging.escalation_policy is not None:
        return paging.escalation_policy
    assert paging.service is not None  # the catalog requires one of the two
    found = client.get_service(paging.service).get("escalation_policy") or {}
    return str(found.get("id") or "")


def on_call(
    client: PagerDutyClient, service: Service, at: datetime, *, window: timedelta = WINDOW
) -> OnCallNow:
    """Who is on call for ``service`` at ``at``, level by level, and who takes over level 1."""
    policy = escalation_policy(client, service)
    if not policy:
        raise NotPaged(f"PagerDuty names no escalation policy for {service.name}'s service.")
    found = client.oncalls(policy, since=at, until=at + window)
    levels = [o for o in found if _covers(o, at)]
    handover = min((o.end for o in levels if o.level == 1 and o.end is not None), default=None)
    later = [
        o
        for o in found
        if o.level == 1 and o.start is not None and handover is not None and o.start >= handover
    ]
    return OnCallNow(
        service=service.name,
        escalation_policy_id=policy,
        escalation_policy=found[0].escalation_policy if found else policy,
        at=at,
        levels=levels,
        next=min(later, key=lambda o: o.start or at) if later else None,
    )


def _covers(oncall: OnCall, at: datetime) -> bool:
    return (oncall.start is None or oncall.start <= at) and (oncall.end is None or oncall.end > at)
