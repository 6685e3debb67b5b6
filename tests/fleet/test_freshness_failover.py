"""The freshness check on a fleet of two real replicas on one PostgreSQL: one replica runs it; the
real ``openlineage-python`` client posts a stale dataset's last success and one incident opens,
with one root in Slack. The checking replica is killed with ``kill -9``; the survivor takes the
check over, opens the next stale dataset's incident, and never doubles the first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient

from bot.store.engine import make_engine
from bot.store.models import Incident
from bot.store.types import utcnow
from tests.fakes.slack.api import SlackEmulator
from tests.support.fleet import CHANNEL, Replicas, fleet_env, wait_for
from tests.support.lineage_events import emit, lineage_client, run
from tests.support.server import BotProcess
from tests.support.store import alerts, incidents, outbox

API_KEY = "fleet-lineage-key"
WH = "postgres://warehouse:5432"
FEATURES = (WH, "features.transactions")
SCORES = (WH, "scores.daily")
RAW = (WH, "raw.payments")
JOB = ("airflow", "daily.build")
CATALOG = f"""
services:
  fraud-scorer: {{}}
datasets:
  transactions:
    {{namespace: "{WH}", name: features.transactions, freshness: 6h, owner: fraud-scorer}}
  scores: {{namespace: "{WH}", name: scores.daily, freshness: 6h, owner: fraud-scorer}}
"""


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


def post_success(bot: BotProcess, dataset: tuple[str, str], age: timedelta) -> None:
    client: OpenLineageClient = lineage_client(bot.url, API_KEY)
    try:
        emit(client, run(JOB, utcnow() - age, inputs=[RAW], outputs=[dataset])[1])
    finally:
        client.close()


def of(found: list[Incident], dataset: tuple[str, str]) -> list[Incident]:
    return [i for i in found if i.labels.get("dataset") == f"{dataset[0]}/{dataset[1]}"]


def test_one_replica_checks_freshness_and_another_takes_over_when_it_dies(
    postgres_url: str, slack: SlackEmulator, tmp_path: Path
) -> None:
    (tmp_path / "services.yaml").write_text(CATALOG)
    env = fleet_env(
        postgres_url,
        slack,
        OPSBOT_API_TOKEN=API_KEY,
        OPSBOT_SERVICES_FILE=str(tmp_path / "services.yaml"),
        OPSBOT_FRESHNESS_CHECK_S="0.2",
    )
    engine = make_engine(postgres_url)
    replicas = Replicas(env, tmp_path)
    try:
        a, b = replicas.start(), replicas.start()
        checker = replicas.wait_leader("freshness")
        assert [bot for bot in (a, b) if "freshness" in replicas.leads(bot)] == [checker]
        survivor = b if checker is a else a

        post_success(survivor, FEATURES, timedelta(hours=7))
        wait_for(lambda: len(incidents(engine)) == 1, 15, "the stale dataset's incident")
        wait_for(lambda: len(slack.roots(CHANNEL)) == 1, 15, "its root in Slack")
        [first] = incidents(engine)
        assert (first.source, first.service) == ("freshness", "fraud-scorer")

        checker.kill()
        assert replicas.wait_leader("freshness") is survivor
        post_success(survivor, SCORES, timedelta(hours=8))
        wait_for(lambda: len(of(incidents(engine), SCORES)) == 1, 15, "the survivor's check")
        wait_for(lambda: len(slack.roots(CHANNEL)) == 2, 15, "the second root in Slack")

        # The survivor has re-checked the first dataset every 0.2 s since: still one incident.
        found = incidents(engine)
        assert [i.id for i in of(found, FEATURES)] == [first.id]
        assert len(found) == 2
        assert len(alerts(engine)) == 2
        assert len([m for m in outbox(engine) if m.kind == "root_post"]) == 2

        # A success now ends the first as it is stored.
        post_success(survivor, FEATURES, timedelta(minutes=1))
        [now_first] = of(incidents(engine), FEATURES)
        assert now_first.status == "resolved"
        [still] = of(incidents(engine), SCORES)
        assert still.status == "firing"
    finally:
        replicas.stop_all()
        engine.dispose()
