"""The PagerDuty adapter on the module's ``pd`` fake, its waits recorded instead of slept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clients.pagerduty import PagerDutyClient
from tests.fakes.pagerduty.api import PagerDutyFake
from tests.support.paging import Sleeps, client_of


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(pd: PagerDutyFake, sleeps: Sleeps) -> Iterator[PagerDutyClient]:
    """Trusting the fake's certificate by its CA file path, as a deployment configures it."""
    adapter = client_of(pd, timeout_s=5, sleep=sleeps)
    yield adapter
    adapter.close()
