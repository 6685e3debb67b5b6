"""Several real ``opsbot serve`` replicas on one database, and what the fleet tests and
``bench/failover.py`` ask of them: who leads what, storms spread over replicas, and what
landed in Slack."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.slack.api import SlackEmulator
from tests.support.payloads import am_alert, am_payload
from tests.support.server import BotProcess

CHANNEL = "C0INCIDENT"
TOKEN = "fleet-token"


def wait_for(condition: Callable[[], bool], limit: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {limit}s waiting for {what}"
        time.sleep(every)


def fleet_env(db_url: str, slack: SlackEmulator, **extra: str) -> dict[str, str]:
    return {
        "OPSBOT_DATABASE_URL": db_url,
        "OPSBOT_ALERTMANAGER_TOKEN": TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "fleet-signing-secret",
        "OPSBOT_SLACK_API_URL": slack.api_url,
        "OPSBOT_INCIDENT_CHANNEL": CHANNEL,
        "OPSBOT_SLACK_CHANNEL_RATE": "40",
        "OPSBOT_SLACK_CHANNEL_BURST": "10",
        "OPSBOT_DRAIN_DELAY_S": "1",
        **extra,
    }


class Replicas:
    """``opsbot serve`` processes sharing one environment (one database)."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.all: list[BotProcess] = []

    def start(self) -> BotProcess:
        bot = BotProcess(self.env, log_path=self.tmp / f"replica-{len(self.all)}.log").start()
        self.all.append(bot)
        return bot

    @property
    def running(self) -> list[BotProcess]:
        return [b for b in self.all if b.proc is not None and b.proc.poll() is None]

    def leads(self, bot: BotProcess) -> list[str]:
        try:
            r = httpx.get(f"{bot.url}/readyz", timeout=2)
        except httpx.HTTPError:
            return []
        return list(r.json().get("leads", []))

    def leader(self, kind: str) -> BotProcess | None:
        for bot in self.running:
            if kind in self.leads(bot):
                return bot
        return None

    def wait_leader(self, kind: str, limit: float = 15.0) -> BotProcess:
        found: list[BotProcess] = []

        def led() -> bool:
            bot = self.leader(kind)
            if bot is not None:
                found.append(bot)
            return bot is not None

        wait_for(led, limit, f"a replica to lead {kind}")
        return found[-1]

    def stop_all(self) -> None:
        for bot in self.all:
            bot.stop()


def deliver(url: str, payload: dict[str, Any]) -> int | None:
    """One Alertmanager attempt: the status code, or None when no answer came."""
    try:
        r = httpx.post(
            f"{url}/webhooks/alertmanager",
            content=json.dumps(payload),
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
    except httpx.HTTPError:
        return None
    return r.status_code


def storm(groups: int, per_group: int, per_delivery: int, prefix: str = "svc") -> list[Any]:
    """Deliveries of ``groups`` alert groups, ``per_group`` alerts each, interleaved."""
    deliveries = []
    for chunk in range(per_group // per_delivery):
        for g in range(groups):
            service = f"{prefix}-{g}"
            batch = [am_alert(service, chunk * per_delivery + i) for i in range(per_delivery)]
            deliveries.append(am_payload(service, batch))
    return deliveries


def outbox_depth(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(r"^opsbot_outbox_depth (\S+)$", text, re.M)
    assert match, text[-2000:]
    return float(match.group(1))


def listed_alerts(slack: SlackEmulator, channel: str = CHANNEL) -> Counter[str]:
    """How often each alert instance is listed in the incident threads."""
    seen: Counter[str] = Counter()
    for root in slack.roots(channel):
        for reply in slack.replies(channel, root["ts"]):
            for block in reply["blocks"]:
                text = (block.get("text") or {}).get("text") or ""
                seen.update(re.findall(r"instance=([\w-]+-\d+):8000", text))
    return seen


def summaries_by_thread(slack: SlackEmulator, channel: str = CHANNEL) -> Counter[str]:
    """Post-incident summaries posted, per incident thread."""
    return Counter(
        m["thread_ts"]
        for m in slack.messages(channel)
        if m["thread_ts"] and m["text"].startswith("Summary of incident #")
    )
