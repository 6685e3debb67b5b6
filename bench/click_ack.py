"""Click-to-ack benchmark: every control opsbot puts in Slack is acknowledged within Slack's 3 s.

    uv run python bench/click_ack.py              # 30 clicks of each control
    uv run python bench/click_ack.py --clicks 60 --burst 16

A real ``opsbot serve`` (SQLite, HTTP mode) talks to the Slack emulator and a real Alertmanager
on 127.0.0.1. Incidents are opened the way Alertmanager opens them (webhooks), then each control
is clicked as Slack posts it — a signed ``block_actions`` body, a select's choice, a view
submission — and the time to the HTTP answer is measured from outside the bot's process. That
answer is the ``ack()``: Slack shows an error to the person when it takes over 3 s. What the
click then does (a silence in Alertmanager, a PagerDuty page, a refusal) comes after, privately.

Controls: the root's Acknowledge, Resolve, I'll lead, severity select, Silence select and Page
button, a playbook offer, Approve and Reject (of unknown tokens: refused after the ack), a job's
Stop, ``/ops declare`` opening the form, and a summary's follow-up Done. Each is clicked
``--clicks`` times one after the other, then ``--burst`` at once (as a busy channel does), while
the outbox keeps posting.

Prints p50, p95 and the worst per control, and the worst overall against 3 s; exits 1 when a
click was acknowledged later than that (or not with a 200).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.slack.api import SlackEmulator  # noqa: E402
from tests.support.alertmanager import SilencingStack  # noqa: E402
from tests.support.payloads import am_alert, am_payload  # noqa: E402
from tests.support.server import BotProcess  # noqa: E402
from tests.support.slack_requests import (  # noqa: E402
    SIGNING_SECRET,
    click,
    select_click,
    signed_headers,
    slash_command,
    with_trigger_id,
)

TARGET_S = 3.0
AM_TOKEN = "bench-alertmanager-token"
CATALOG = """
services:
  fraud-scorer: {namespace: ml-serving, pagerduty: {service: PSVC123}}
severities: [sev1, sev2, sev3]
policy:
  rules:
    - actions: [silence_alerts, expire_silence, set_severity, page_service]
      run: ["*"]
      approval: none
"""


def timed_post(bot_url: str, body: bytes) -> float:
    started = time.perf_counter()
    response = httpx.post(
        f"{bot_url}/slack/events", content=body, headers=signed_headers(body), timeout=30
    )
    took = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"Slack would have seen {response.status_code}: {response.text[:200]}")
    return took


def open_incidents(bot_url: str, count: int) -> list[int]:
    """``count`` incidents from Alertmanager webhooks; their numbers."""
    start = datetime.now(UTC)
    for n in range(count):
        payload = am_payload(
            "fraud-scorer", [am_alert("fraud-scorer", n, starts_at=start)], alertname=f"Alert{n}"
        )
        httpx.post(
            f"{bot_url}/webhooks/alertmanager",
            json=payload,
            headers={"Authorization": f"Bearer {AM_TOKEN}"},
            timeout=30,
        ).raise_for_status()
    found = httpx.get(
        f"{bot_url}/api/v1/incidents",
        params={"status": "all", "limit": count},
        headers={"Authorization": "Bearer bench-api"},
        timeout=30,
    ).json()
    return sorted(item["id"] for item in found["incidents"])


Make = Callable[[int], bytes]


def clicks_for(slack: SlackEmulator) -> dict[str, Make]:
    """Per control, how to make the body of a click on incident ``i`` (made at click time: a
    trigger id lasts 3 s)."""
    url = slack.response_url("bench")

    def pick(action: str, value: str, user: str = "U0ALICE") -> bytes:
        return select_click(
            action, "opsbot_incident", value, user, "C0INCIDENT", "1.000001", "1.2.3", url
        )

    def declare(_: int) -> bytes:
        # `/ops declare` alone, with a trigger Slack just issued: it opens the declare form.
        trigger = slack.new_trigger_id("U0ONCALL")
        return with_trigger_id(slash_command("declare", url), trigger)

    return {
        "acknowledge": lambda i: click("opsbot_ack", str(i), "U0ALICE", url),
        "i'll lead": lambda i: click("opsbot_lead", str(i), "U0BOB", url),
        "severity": lambda i: pick("opsbot_severity", f"{i}:sev2"),
        "silence": lambda i: pick("opsbot_silence", f"{i}:1h"),
        "page": lambda i: click("opsbot_page", str(i), "U0ALICE", url),
        "playbook offer": lambda i: click("opsbot_offer_0", f"{i}:none", "U0ALICE", url),
        "approve": lambda i: click("opsbot_approve", f"unknown-{i}", "U0BOB", url),
        "reject": lambda i: click("opsbot_reject", f"unknown-{i}", "U0BOB", url),
        "job stop": lambda i: click("opsbot_job_stop", str(i), "U0ALICE", url),
        "declare form": declare,
        "follow-up done": lambda i: click("opsbot_followup_done_0", str(i), "U0ALICE", url),
        "resolve": lambda i: click("opsbot_resolve", str(i), "U0ALICE", url),
    }


def summarize(name: str, took: list[float]) -> tuple[str, float]:
    ordered = sorted(took)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    line = (
        f"  {name:<16} n={len(took):>3}  p50 {statistics.median(took) * 1000:7.1f} ms  "
        f"p95 {p95 * 1000:7.1f} ms  worst {max(took) * 1000:7.1f} ms"
    )
    return line, max(took)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=30, help="clicks of each control, in turn")
    parser.add_argument("--burst", type=int, default=16, help="clicks of each control at once")
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "services.yaml").write_text(CATALOG)
        with SlackEmulator(channels=("C0INCIDENT",)) as slack, SilencingStack(tmp / "am") as am:
            bot = BotProcess(
                {
                    "OPSBOT_DATABASE_URL": f"sqlite:///{tmp / 'opsbot.db'}",
                    "OPSBOT_SERVICES_FILE": str(tmp / "services.yaml"),
                    "OPSBOT_ALERTMANAGER_TOKEN": AM_TOKEN,
                    "OPSBOT_API_TOKEN": "bench-api",
                    "OPSBOT_ALERTMANAGER_URL": am.url,
                    "OPSBOT_INCIDENT_CHANNEL": "C0INCIDENT",
                    "SLACK_BOT_TOKEN": "xoxb-test-token",
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "OPSBOT_SLACK_API_URL": slack.api_url,
                    "OPSBOT_LOG_LEVEL": "WARNING",
                },
                log_path=tmp / "bot.log",
            ).start(timeout=60)
            try:
                ids = open_incidents(bot.url, max(args.clicks, args.burst))
                controls = clicks_for(slack)
                worst = 0.0
                for mode, workers in (("one after the other", 1), ("burst", args.burst)):
                    print(f"\n{mode} ({workers} at once):")
                    count = args.clicks if workers == 1 else args.burst
                    for name, make in controls.items():
                        with ThreadPoolExecutor(max_workers=workers) as pool:
                            took = list(
                                pool.map(lambda i, m=make: timed_post(bot.url, m(i)), ids[:count])
                            )
                        line, most = summarize(name, took)
                        worst = max(worst, most)
                        print(line)
                figures = {"worst_ack_ms": round(worst * 1000, 1), "target_ms": TARGET_S * 1000}
                print(json.dumps(figures))
                ok = worst <= TARGET_S
                print(f"\nworst ack {worst * 1000:.0f} ms: {'within' if ok else 'OVER'} 3 s")
                return 0 if ok else 1
            finally:
                bot.stop()


if __name__ == "__main__":
    sys.exit(main())
