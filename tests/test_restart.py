"""kill -9 during an alert storm: after restart no alert is lost and no message is doubled."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.store.engine import make_engine
from tests.fakes.slack.api import SlackEmulator
from tests.support.fleet import TOKEN, deliver, listed_alerts, outbox_depth, storm
from tests.support.server import BotProcess, free_port
from tests.support.store import alerts, incidents

GROUPS, PER_GROUP, PER_DELIVERY = 30, 10, 2


def wait_for_post_in_flight(db_path: Path, slack: SlackEmulator) -> set[str]:
    """Until an outbox row is "sending" while Slack already shows its message; their ts."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            sending = {r[0] for r in conn.execute("SELECT id FROM outbox WHERE status='sending'")}
        landed = {
            m["ts"]
            for m in slack.messages("C0INCIDENT")
            if sending
            & set(((m.get("metadata") or {}).get("event_payload") or {}).get("outbox_ids", []))
        }
        if landed:
            return landed
        time.sleep(0.01)
    raise AssertionError("no Slack post was ever caught in flight")


def test_kill_9_mid_storm_loses_nothing_and_posts_no_duplicate_root(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/opsbot.db"
    with SlackEmulator(channels=("C0INCIDENT",)) as slack:
        env = {
            "OPSBOT_DATABASE_URL": db,
            "OPSBOT_ALERTMANAGER_TOKEN": TOKEN,
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": "s",
            "OPSBOT_SLACK_API_URL": slack.api_url,
            "OPSBOT_INCIDENT_CHANNEL": "C0INCIDENT",
            "OPSBOT_SLACK_CHANNEL_RATE": "40",
            "OPSBOT_SLACK_CHANNEL_BURST": "10",
        }
        port = free_port()
        bot = BotProcess(env, port=port, log_path=tmp_path / "bot.log").start()
        deliveries = storm(GROUPS, PER_GROUP, PER_DELIVERY)
        done = [False] * len(deliveries)
        acked = threading.Event()

        def send(i: int) -> None:
            done[i] = deliver(bot.url, deliveries[i]) == 200
            if sum(done) >= len(deliveries) // 2:
                acked.set()

        # Slack applies each post at once but answers it late: the widest window in which a
        # crash leaves a message posted in Slack and still marked "sending" in the outbox.
        slack.delay_next("chat.postMessage", 0.5, count=1000)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(send, i) for i in range(len(deliveries))]
            assert acked.wait(60), "half the storm was never acknowledged"
            landed_in_flight = wait_for_post_in_flight(tmp_path / "opsbot.db", slack)
            bot.kill()
            for f in futures:
                f.result()
        assert 0 < sum(done) < len(deliveries), "the kill must land mid-storm"
        slack.clear_faults()

        restarted = BotProcess(env, port=port, log_path=tmp_path / "bot2.log").start()
        try:
            # Alertmanager retries what was not acknowledged; an HA peer resends some of the rest.
            retry = [d for d, ok in zip(deliveries, done, strict=True) if not ok]
            resent = [d for d, ok in zip(deliveries, done, strict=True) if ok][:20]
            for payload in retry + resent:
                assert deliver(restarted.url, payload) == 200
            deadline = time.monotonic() + 90
            while outbox_depth(restarted.url) > 0:
                assert time.monotonic() < deadline, "outbox did not drain"
                time.sleep(0.2)
        finally:
            restarted.stop()

        engine = make_engine(db)
        try:
            assert len(alerts(engine)) == GROUPS * PER_GROUP
            stored = incidents(engine)
            assert len(stored) == GROUPS
        finally:
            engine.dispose()

        assert "settled" in restarted.logs(), "the restart must reconcile the in-flight post"
        roots = slack.roots("C0INCIDENT")
        landed_ts = {m["ts"] for m in slack.messages("C0INCIDENT")}
        assert landed_in_flight <= landed_ts
        assert len(roots) == GROUPS, "exactly one root message per incident"
        assert sorted(r["ts"] for r in roots) == sorted(i.slack_ts for i in stored)
        seen = listed_alerts(slack)
        expected = {f"svc-{g}-{n}" for g in range(GROUPS) for n in range(PER_GROUP)}
        assert set(seen) == expected, "every alert is listed in its thread"
        assert max(seen.values()) == 1, "no alert listed twice"
