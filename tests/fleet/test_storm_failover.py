"""Two real replicas on one PostgreSQL take an alert storm; the one sending to Slack is killed
with ``kill -9`` mid-storm and a third replica joins. Nothing is lost or posted twice: one root
per group, every alert listed once in its thread, and one summary per incident once resolved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.store.engine import make_engine
from tests.fakes.slack.api import SlackEmulator
from tests.support.fleet import (
    CHANNEL,
    Replicas,
    deliver,
    fleet_env,
    listed_alerts,
    outbox_depth,
    storm,
    summaries_by_thread,
    wait_for,
)
from tests.support.payloads import am_alert, am_payload
from tests.support.store import alerts, incidents

GROUPS, PER_GROUP, PER_DELIVERY = 16, 6, 2
TAKEOVER_LIMIT_S = 10.0


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


def test_killing_the_outbox_owner_mid_storm_loses_and_doubles_nothing(
    postgres_url: str, slack: SlackEmulator, tmp_path: Path
) -> None:
    replicas = Replicas(fleet_env(postgres_url, slack), tmp_path)
    try:
        a, b = replicas.start(), replicas.start()
        owner = replicas.wait_leader("outbox")
        survivor = b if owner is a else a
        deliveries = storm(GROUPS, PER_GROUP, PER_DELIVERY)
        answers: list[int | None] = [None] * len(deliveries)
        # Slack applies each post at once but answers late: the widest window for a kill to
        # leave a message posted in Slack and still "sending" in the outbox.
        slack.delay_next("chat.postMessage", 0.3, count=1000)

        def send(i: int) -> None:
            answers[i] = deliver((a, b)[i % 2].url, deliveries[i])

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(send, i) for i in range(len(deliveries))]
            wait_for(lambda: len(slack.roots(CHANNEL)) >= 3, 30, "the first roots")
            owner.kill()
            killed_at = time.monotonic()
            for f in futures:
                f.result()
        slack.clear_faults()
        new_owner = replicas.wait_leader("outbox", limit=TAKEOVER_LIMIT_S)
        assert time.monotonic() - killed_at < TAKEOVER_LIMIT_S
        assert new_owner is survivor
        third = replicas.start()

        # Alertmanager retries what got no 200 (on a live replica), and resends some of the rest.
        assert all(code in (200, None) for code in answers), answers
        retry = [d for d, code in zip(deliveries, answers, strict=True) if code != 200]
        for i, payload in enumerate(retry + deliveries[:10]):
            assert deliver((survivor, third)[i % 2].url, payload) == 200
        wait_for(lambda: outbox_depth(third.url) == 0, 90, "the outbox to drain", every=0.2)

        engine = make_engine(postgres_url)
        try:
            assert len(alerts(engine)) == GROUPS * PER_GROUP
            stored = incidents(engine)
        finally:
            engine.dispose()
        roots = slack.roots(CHANNEL)
        assert len(roots) == GROUPS, "exactly one root per group"
        assert sorted(r["ts"] for r in roots) == sorted(str(i.slack_ts) for i in stored)
        seen = listed_alerts(slack)
        expected = {f"svc-{g}-{n}" for g in range(GROUPS) for n in range(PER_GROUP)}
        assert set(seen) == expected, "every alert is listed in its thread"
        assert max(seen.values()) == 1, "no alert listed twice"

        # Resolve every group (spread over the survivors): one summary per incident.
        for g in range(GROUPS):
            service = f"svc-{g}"
            resolved: list[dict[str, Any]] = [
                am_alert(service, n, status="resolved") for n in range(PER_GROUP)
            ]
            url = (survivor, third)[g % 2].url
            assert deliver(url, am_payload(service, resolved)) == 200
        wait_for(lambda: len(summaries_by_thread(slack)) == GROUPS, 90, "every summary")
        wait_for(lambda: outbox_depth(third.url) == 0, 60, "the outbox to drain", every=0.2)
        assert set(summaries_by_thread(slack).values()) == {1}, "one summary per incident"
    finally:
        replicas.stop_all()
