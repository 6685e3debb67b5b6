"""A PagerDuty account to page, for the paging tests (actions, commands, enrichment, Slack).

``paging_fake(now)`` starts the HTTPS PagerDuty fake with one service, ``fraud-scorer``
(``SERVICE``), paging through the escalation policy "ML on-call" (``POLICY``): Dana Scully is on
call on level 1 until ``now`` + 4 h, then Fox Mulder for a day; Walter Skinner is always on
level 2. ``CATALOG`` is the service catalog that names them, with a policy that lets
``U0ALICE`` and ``U0ONCALL`` page and ask for responders (no approval) and nobody else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from bot.clients.pagerduty import PagerDutyClient
from tests.fakes.pagerduty.api import PagerDutyFake

POLICY = "PEPML01"
SERVICE = "PSVCFRD1"
OTHER_POLICY = "PEPDATA1"

CATALOG = f"""
services:
  fraud-scorer:
    namespace: ml-serving
    deployments: [fraud-scorer]
    pagerduty: {{service: {SERVICE}, escalation_policy: {POLICY}}}
  feature-store:
    pagerduty: {{escalation_policy: {OTHER_POLICY}}}
  batch-scorer: {{}}
policy:
  groups: {{oncall: [U0ALICE, U0ONCALL]}}
  rules:
    - actions: [page_service, request_responders]
      run: ["@oncall"]
      approval: none
"""


@contextmanager
def paging_fake(now: datetime, *, data_policy: bool = True) -> Iterator[PagerDutyFake]:
    """The PagerDuty fake with the ML on-call policy (Dana now, Fox next, Walter at level 2) and
    the fraud-scorer service on it; ``data_policy``: a second policy, Data on-call (Mo)."""
    with PagerDutyFake() as fake:
        fake.clock = lambda: now
        fake.add_policy("ML on-call", POLICY)
        fake.add_service("fraud-scorer", SERVICE, policy_id=POLICY)
        fake.add_oncall(
            POLICY,
            "dana@example.com",
            "Dana Scully",
            start=now - timedelta(hours=6),
            end=now + timedelta(hours=4),
            schedule="ML primary",
        )
        fake.add_oncall(
            POLICY,
            "fox@example.com",
            "Fox Mulder",
            start=now + timedelta(hours=4),
            end=now + timedelta(hours=28),
            schedule="ML primary",
        )
        fake.add_oncall(POLICY, "walter@example.com", "Walter Skinner", level=2)
        if data_policy:
            fake.add_policy("Data on-call", OTHER_POLICY)
            fake.add_oncall(OTHER_POLICY, "mo@example.com", "Mo Reyes")
        yield fake
        assert fake.fake_errors() == []


def client_of(fake: PagerDutyFake, **options: object) -> PagerDutyClient:
    """The adapter on the fake, trusting its certificate; ``options``: sleep, timeout_s, ..."""
    return PagerDutyClient(
        fake.api_token,
        base_url=fake.url,
        from_email=fake.from_email,
        verify=str(fake.cert_path),
        **options,  # type: ignore[arg-type]
    )


class Sleeps:
    """The adapter's ``sleep``: records the waits (Retry-After) instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
