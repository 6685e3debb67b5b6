"""A rolling restart of two real replicas on PostgreSQL under steady webhook load: each is sent
SIGTERM in turn and replaced. A load balancer that follows ``/readyz`` (and, like Alertmanager,
tries again when a connection is refused) sees no 5xx, and no alert is lost or listed twice."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import httpx

from bot.store.engine import make_engine
from tests.fakes.slack.api import SlackEmulator
from tests.support.fleet import (
    CHANNEL,
    Replicas,
    deliver,
    fleet_env,
    listed_alerts,
    outbox_depth,
    wait_for,
)
from tests.support.payloads import am_alert, am_payload
from tests.support.server import BotProcess
from tests.support.store import alerts, incidents

GROUPS = 6
PACE_S = 0.02  # about 50 deliveries a second, one new alert each


class Balancer:
    """Sends to the replicas whose ``/readyz`` said ready at the last look (every 50 ms)."""

    def __init__(self, replicas: Replicas) -> None:
        self.replicas = replicas
        self.ready: list[BotProcess] = []
        self.readiness: Counter[tuple[int, str]] = Counter()  # (port, status) seen
        self.stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self.stop.wait(0.05):
            ready = []
            for bot in self.replicas.running:
                try:
                    r = httpx.get(f"{bot.url}/readyz", timeout=1)
                except httpx.HTTPError:
                    continue
                self.readiness[(bot.port, r.json().get("status", "?"))] += 1
                if r.status_code == 200:
                    ready.append(bot)
            self.ready = ready

    def send(self, payload: dict[str, object], codes: Counter[int | None]) -> int | None:
        """Like Alertmanager: try again (another replica) until some replica answers."""
        for attempt in range(200):
            targets = self.ready
            if not targets:
                self.stop.wait(0.05)
                continue
            code = deliver(targets[attempt % len(targets)].url, payload)
            codes[code] += 1
            if code is not None and code < 500:
                return code
            self.stop.wait(0.05)
        return None


def test_a_rolling_sigterm_restart_under_load_gives_no_5xx_and_loses_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    with SlackEmulator(channels=(CHANNEL,)) as slack:
        replicas = Replicas(fleet_env(postgres_url, slack), tmp_path)
        balancer = Balancer(replicas)
        codes: Counter[int | None] = Counter()
        final: list[int | None] = []
        load_stop = threading.Event()

        def load() -> None:
            i = 0
            while not load_stop.is_set():
                service = f"roll-{i % GROUPS}"
                final.append(balancer.send(am_payload(service, [am_alert(service, i)]), codes))
                i += 1
                load_stop.wait(PACE_S)

        try:
            originals = [replicas.start(), replicas.start()]
            wait_for(lambda: len(balancer.ready) == 2, 10, "both replicas in rotation")
            loader = threading.Thread(target=load)
            loader.start()
            for old in originals:
                wait_for(lambda: len(final) >= 40, 30, "steady load")
                sent_before = len(final)
                assert old.proc is not None
                old.proc.send_signal(signal.SIGTERM)
                wait_for(lambda b=old: b.proc.poll() is not None, 20, "the drained replica to exit")  # type: ignore[misc]
                assert old.proc.returncode != -signal.SIGKILL
                replicas.start()
                wait_for(lambda: len(balancer.ready) == 2, 20, "the replacement in rotation")
                wait_for(lambda n=sent_before: len(final) >= n + 40, 30, "load meanwhile")  # type: ignore[misc]
            load_stop.set()
            loader.join(30)
            survivor = replicas.running[0]
            wait_for(lambda: outbox_depth(survivor.url) == 0, 60, "the outbox to drain", 0.2)
        finally:
            load_stop.set()
            balancer.stop.set()
            replicas.stop_all()

        assert not [c for c in codes if c is not None and c >= 500], codes
        assert set(final) == {200}, Counter(final)
        for old in originals:
            assert balancer.readiness[(old.port, "draining")] > 0, "readyz said draining first"
            logs = old.logs()
            assert "SIGTERM: draining" in logs
            assert logs.index("SIGTERM: draining") < logs.rindex("Shutting down")
        engine = make_engine(postgres_url)
        try:
            assert len(alerts(engine)) == len(final)
            assert len(incidents(engine)) == GROUPS
        finally:
            engine.dispose()
        assert len(slack.roots(CHANNEL)) == GROUPS, "one root per group"
        seen = listed_alerts(slack)
        expected = {f"roll-{i % GROUPS}-{i}" for i in range(len(final))}
        assert set(seen) == expected, "every alert is listed in its thread"
        assert max(seen.values()) == 1, "no alert listed twice"
