"""Fixtures for the action tests: the Airflow fake and an ``AirflowClient`` on it, a clock that
only moves when an action sleeps, and a factory of ``ActionContext``s wired to them and to ``kc``,
opsbot's client on the Kubernetes API fake under the chart's Role (``kube``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from actions.base import ActionContext
from bot.clients.airflow import AirflowClient
from bot.clients.kubernetes import KubeClient
from tests.fakes.airflow.api import AirflowApiFake

NS = "ml-serving"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """``ctx.clock`` and ``ctx.sleep``: time moves only by what the action sleeps. ``on_sleep``
    runs after each sleep with the number of sleeps so far (a test's hook into "meanwhile")."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], object] | None = None

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, f"slept {seconds}s"
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


@pytest.fixture
def airflow_fake() -> Iterator[AirflowApiFake]:
    with AirflowApiFake() as fake:
        yield fake


@pytest.fixture
def airflow(airflow_fake: AirflowApiFake) -> Iterator[AirflowClient]:
    with AirflowClient(
        airflow_fake.url,
        username=airflow_fake.username,
        password=airflow_fake.password,
        timeout_s=5.0,
    ) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_ctx(kc: KubeClient, clock: FakeClock) -> Callable[..., ActionContext]:
    """``make_ctx(key=..., airflow=..., pipelines=...)``: an ActionContext on the fakes, with the
    fake clock; anything given replaces the default."""

    def make(**overrides: Any) -> ActionContext:
        values: dict[str, Any] = {
            "actor": "U0TEST",
            "key": "run-1",
            "kube": kc,
            "clock": clock,
            "sleep": clock.sleep,
        }
        values.update(overrides)
        return ActionContext(**values)

    return make
