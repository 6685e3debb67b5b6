"""Storm visibility benchmark: how soon after Alertmanager's own Slack post is each new incident
named by opsbot in its channel?

    uv run python bench/visibility.py                  # A: 10 groups, one every 2 s; B: 20 in 5 s
    uv run python bench/visibility.py --storm-groups 40 --storm-seconds 5
    uv run python bench/visibility.py --storm-horizon 0   # the bot without storm messages

Everything real but Slack, on 127.0.0.1: the Slack emulator (``tests/fakes/slack``, record-only:
it posts everything and records where a channel got more than its burst + 1 posts in a second),
``opsbot serve`` on SQLite (``tests/support/server.py``), and Debian's Alertmanager 0.25 with two
receivers on one route (``tests/support/alertmanager.py``): its own ``slack_configs``, posting
to ``chat.postMessage`` in ``#alerts`` with a bot token, and opsbot's webhook. Alerts are pushed
to Alertmanager's ``/api/v2/alerts`` as Prometheus pushes them, one new group (alertname,
service) each; ``group_wait`` is 100 ms, so both receivers hear of a group at once.

Two scenarios, one after the other (the outbox drained in between):
  A  one new group every ``--trickle-interval`` s (baseline: the pace can carry it);
  B  ``--storm-groups`` new groups within ``--storm-seconds`` s, all into one channel.

For each group: from the moment Alertmanager's own post reached the emulator, to the first
opsbot message in the incident channel that names the incident (its root, or the storm message,
posted or edited), on the emulator's clock. Prints p50 / max per scenario, whether every
incident was named within ``--target`` s, the storm messages and when the last thread opened,
the emulator's rate violations in the incident channel, the machine and its load.

Exit 0 when every incident of both scenarios was named within the target, no rate violation
was recorded and the trickle got no storm message; 1 when not; 2 when the harness cannot run
(no Alertmanager binary, the bot does not start, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from figures import add_option, write  # noqa: E402

from bot.render.storm import STORM_BLOCK  # noqa: E402
from tests.fakes.slack.api import SlackEmulator  # noqa: E402
from tests.support.alertmanager import SlackAndWebhookAlertmanager, post_alerts  # noqa: E402
from tests.support.server import BotProcess  # noqa: E402

INCIDENTS = "C0INCIDENT"  # opsbot's channel
ALERTS = "C0ALERTS"  # where Alertmanager posts itself
AM_TOKEN = "bench-alertmanager-token"
BOT_TOKEN = "xoxb-test-token"
ALERTNAME = "ModelLatencyHigh"
DEPTH = re.compile(r"^opsbot_outbox_depth (\S+)$", re.MULTILINE)
QUIET_S = 2.0  # the outbox empty this long: a scenario is over


class HarnessError(Exception):
    """The benchmark could not run (exit 2), as opposed to a missed target (exit 1)."""


@dataclass
class Scenario:
    name: str
    services: list[str]
    named_in: dict[str, float]  # service -> seconds from Alertmanager's post to opsbot's
    storm_messages: int
    last_thread_s: float  # from the first Alertmanager post to the last root posted

    def line(self, target_s: float) -> str:
        took = sorted(self.named_in.values())
        missing = len(self.services) - len(took)
        late = sum(1 for t in took if t > target_s) + missing
        verdict = "all within" if late == 0 else f"{late} NOT within"
        p50 = statistics.median(took) if took else float("nan")
        worst = max(took) if took else float("nan")
        return (
            f"  {self.name}: {len(self.services)} incidents, named after Alertmanager's post "
            f"p50 {p50:.2f} s, max {worst:.2f} s ({verdict} {target_s:g} s); "
            f"storm messages {self.storm_messages}; last thread opened "
            f"{self.last_thread_s:.1f} s after the first Alertmanager post"
        )

    def met(self, target_s: float) -> bool:
        return len(self.named_in) == len(self.services) and all(
            t <= target_s for t in self.named_in.values()
        )


# -- what reached the emulator ------------------------------------------------------------------


def words(call: dict[str, Any]) -> str:
    """Everything a call showed: its text, blocks and attachments, as one string."""
    args = call["args"]
    return " ".join(
        json.dumps(args.get(k), ensure_ascii=False) for k in ("text", "blocks", "attachments")
    )


def first_naming(
    slack: SlackEmulator, channel: str, services: list[str], *, top_level: bool
) -> dict[str, float]:
    """Per service, when the first successful post (or edit) in ``channel`` named it."""
    patterns = {s: re.compile(rf"(?<![\w-]){re.escape(s)}(?![\w-])") for s in services}
    found: dict[str, float] = {}
    for call in slack.calls():
        if call["method"] not in ("chat.postMessage", "chat.update") or not call["ok"]:
            continue
        if call["args"].get("channel") != channel:
            continue
        if top_level and call["args"].get("thread_ts"):
            continue  # a reply in a thread names nothing in the channel
        shown = words(call)
        for service, pattern in patterns.items():
            if service not in found and pattern.search(shown):
                found[service] = call["at"]
    return found


def is_storm(message: dict[str, Any]) -> bool:
    return bool(message["blocks"]) and message["blocks"][0].get("block_id") == STORM_BLOCK


def storm_messages(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [m for m in slack.roots(INCIDENTS) if is_storm(m)]


def incident_roots(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [m for m in slack.roots(INCIDENTS) if not is_storm(m)]


# -- the run ------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            print(f"  (gave up waiting for {what} after {timeout:g} s)")
            return False
        tick.wait(0.02)
    return True


def outbox_depth(bot: BotProcess) -> float | None:
    try:
        found = DEPTH.search(httpx.get(f"{bot.url}/metrics", timeout=2).text)
    except httpx.HTTPError:
        return None
    return float(found.group(1)) if found else None


def quiet(bot: BotProcess) -> Callable[[], bool]:
    """True once the bot's outbox has stayed empty for ``QUIET_S``."""
    since: list[float] = []

    def check() -> bool:
        if outbox_depth(bot) != 0:
            since.clear()
            return False
        since.append(time.monotonic())
        return since[-1] - since[0] >= QUIET_S

    return check


def play(
    name: str,
    services: list[str],
    spacing_s: float,
    slack: SlackEmulator,
    bot: BotProcess,
    am: SlackAndWebhookAlertmanager,
) -> Scenario:
    """Push one new group per service, ``spacing_s`` apart (open loop), and read the result."""
    storms_before = len(storm_messages(slack))
    roots_before = len(incident_roots(slack))
    started = time.monotonic()
    pace = threading.Event()
    for i, service in enumerate(services):
        pace.wait(max(0.0, started + i * spacing_s - time.monotonic()))
        post_alerts(am.url, {"alertname": ALERTNAME, "service": service, "severity": "critical"})

    def all_named() -> bool:
        named = first_naming(slack, INCIDENTS, services, top_level=True)
        posted = first_naming(slack, ALERTS, services, top_level=False)
        return len(named) == len(services) and len(posted) == len(services)

    wait_for(all_named, 30 + 2 * len(services), f"{name}: every incident named")
    wait_for(
        lambda: len(incident_roots(slack)) - roots_before >= len(services),
        30 + 3 * len(services),
        f"{name}: every thread open",
    )
    wait_for(quiet(bot), 60 + 3 * len(services), f"{name}: the outbox drained")
    posted = first_naming(slack, ALERTS, services, top_level=False)
    named = first_naming(slack, INCIDENTS, services, top_level=True)
    roots = [m["posted_at"] for m in incident_roots(slack)[roots_before:]]
    first_am = min(posted.values(), default=started)
    return Scenario(
        name=name,
        services=services,
        named_in={s: named[s] - posted[s] for s in services if s in named and s in posted},
        storm_messages=len(storm_messages(slack)) - storms_before,
        last_thread_s=max(roots, default=first_am) - first_am,
    )


def run(args: argparse.Namespace) -> int:
    tmp_dir = tempfile.mkdtemp(prefix="opsbot-visibility-")
    tmp = Path(tmp_dir)
    with SlackEmulator(channels=(INCIDENTS, ALERTS), bot_token=BOT_TOKEN) as slack:
        env = {
            "OPSBOT_DATABASE_URL": f"sqlite:///{tmp / 'opsbot.db'}",
            "OPSBOT_ALERTMANAGER_TOKEN": AM_TOKEN,
            "OPSBOT_INCIDENT_CHANNEL": INCIDENTS,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "OPSBOT_SLACK_API_URL": slack.api_url,
            "OPSBOT_LOG_LEVEL": "WARNING",
        }
        if args.storm_horizon is not None:
            env["OPSBOT_STORM_HORIZON_S"] = str(args.storm_horizon)
        try:
            bot = BotProcess(env, log_path=tmp / "bot.log").start(timeout=60)
        except Exception as exc:
            raise HarnessError(f"opsbot serve did not start: {exc}") from exc
        try:
            try:
                am = SlackAndWebhookAlertmanager(
                    tmp / "am",
                    f"{bot.url}/webhooks/alertmanager",
                    AM_TOKEN,
                    slack_api_url=slack.api_url,
                    slack_token=BOT_TOKEN,
                    slack_channel=ALERTS,
                ).start()
            except Exception as exc:
                raise HarnessError(f"Alertmanager did not start: {exc}") from exc
            try:
                trickle = play(
                    "A trickle",
                    [f"vis-a-{i:02d}" for i in range(args.trickle_groups)],
                    args.trickle_interval,
                    slack,
                    bot,
                    am,
                )
                storm = play(
                    "B storm",
                    [f"vis-b-{i:02d}" for i in range(args.storm_groups)],
                    args.storm_seconds / max(1, args.storm_groups),
                    slack,
                    bot,
                    am,
                )
            finally:
                am.stop()
        finally:
            bot.stop()
        violations = [v for v in slack.rate_violations() if v.startswith(f"{INCIDENTS}:")]
        errors = [c for c in slack.calls() if not c["ok"]]
    print(trickle.line(args.target))
    print(storm.line(args.target))
    print(f"  rate violations in {INCIDENTS}: {len(violations)}; Slack API errors: {len(errors)}")
    for v in violations[:5]:
        print(f"    {v}")
    print(f"  load average at the end: {load()}")
    ok = (
        trickle.met(args.target)
        and storm.met(args.target)
        and not violations
        and trickle.storm_messages == 0
    )
    write(
        args.figures,
        {
            "trickle_named_max_s": max(trickle.named_in.values(), default=None),
            "trickle_storm_messages": trickle.storm_messages,
            "storm_named_p50_s": statistics.median(storm.named_in.values())
            if storm.named_in
            else None,
            "storm_named_max_s": max(storm.named_in.values(), default=None),
            "storm_unnamed": len(storm.services) - len(storm.named_in),
            "rate_violations": len(violations),
        },
    )
    if ok and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"  kept: {tmp} (the bot's and Alertmanager's logs)")
    print("PASS" if ok else "MISSED")
    return 0 if ok else 1


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trickle-groups", type=int, default=10)
    parser.add_argument("--trickle-interval", type=float, default=2.0)
    parser.add_argument("--storm-groups", type=int, default=20)
    parser.add_argument("--storm-seconds", type=float, default=5.0)
    parser.add_argument("--target", type=float, default=2.0, help="seconds to be named within")
    parser.add_argument(
        "--storm-horizon", type=float, help="OPSBOT_STORM_HORIZON_S for the bot (0: off)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs even when it passes")
    add_option(parser)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load()}"
    )
    try:
        return run(args)
    except HarnessError as exc:
        print(f"harness error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
