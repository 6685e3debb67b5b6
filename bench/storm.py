"""Alert-storm benchmark: a real ``opsbot serve`` against a real database and the Slack emulator.

    uv run python bench/storm.py                       # 10,000 alerts in 200 groups, SQLite
    uv run python bench/storm.py --db postgres         # the same against PostgreSQL
    uv run python bench/storm.py --quick               # smoke run: 1,000 alerts in 20 groups

Phases:
  1. storm    -- N distinct alerts over G groups, k alerts per Alertmanager delivery, a fraction
                 sent twice (HA peers), posted by ``--concurrency`` keep-alive HTTP/1.1 clients as
                 fast as the bot answers (or paced at ``--rate`` deliveries/s);
  2. latency  -- new groups at a steady ``--latency-rate`` alerts/s for ``--latency-seconds``,
                 open loop (a slow answer does not delay the next send), for ack p50/p99;
  3. drain    -- wait for the bot's outbox to empty (it posts at ~1 msg/s per channel), then
                 read what reached "Slack" (the emulator): roots, replies, lost alerts, rate.

It reports; it does not judge by exit status. Exit 0 whatever the figures, 2 on a harness error
(emulator or bot would not start, database could not be created, ...). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The parts live in bench/stormlib/ (see its __init__.py); this script's own directory, bench/,
# is on sys.path because Python puts it there when it runs a script.
from stormlib.common import (  # noqa: E402
    FULL_DEFAULTS,
    MAX_ALERTS,
    QUICK_DEFAULTS,
    HarnessError,
    log,
)
from stormlib.harness import run  # noqa: E402
from stormlib.report import print_table  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--alerts", type=int, help="distinct alerts in the storm [10000]")
    p.add_argument("--groups", type=int, help="alert groups (groupKeys) in the storm [200]")
    p.add_argument("--alerts-per-delivery", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=16, help="concurrent HTTP connections")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="storm deliveries/s (open loop); 0 = as fast as the bot answers (closed loop)",
    )
    p.add_argument(
        "--redeliver", type=float, default=0.1, help="fraction of storm deliveries sent twice"
    )
    p.add_argument(
        "--latency-rate", type=float, default=100.0, help="paced phase alerts/s (0 = skip it)"
    )
    p.add_argument("--latency-seconds", type=float, help="length of the paced phase [10]")
    p.add_argument("--latency-groups", type=int, help="new groups in the paced phase [10]")
    p.add_argument(
        "--latency-alerts-per-delivery",
        type=int,
        default=1,
        help="alerts per delivery in the paced phase (1: one request per alert, the worst case)",
    )
    p.add_argument("--drain-timeout", type=float, default=900.0, help="seconds")
    p.add_argument("--phase-timeout", type=float, default=600.0, help="seconds per send phase")
    p.add_argument(
        "--channel-rate",
        type=float,
        default=None,
        help="OPSBOT_SLACK_CHANNEL_RATE for the bot (default: the bot's own, 1 msg/s)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="write the full report here")
    p.add_argument("--keep", action="store_true", help="keep the work dir (bot log, SQLite file)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1,000 alerts / 20 groups, 3 s paced phase on 5 new groups\n"
        "(explicit --alerts/--groups/--latency-seconds/--latency-groups still apply)",
    )
    args = p.parse_args(argv)
    # --quick changes the defaults; options given explicitly still win.
    defaults = QUICK_DEFAULTS if args.quick else FULL_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    checks = [
        (1 <= args.alerts <= MAX_ALERTS, f"--alerts must be 1..{MAX_ALERTS}"),
        (1 <= args.groups <= args.alerts, "--groups must be 1..alerts"),
        (args.alerts_per_delivery >= 1, "--alerts-per-delivery must be >= 1"),
        (args.latency_alerts_per_delivery >= 1, "--latency-alerts-per-delivery must be >= 1"),
        (1 <= args.concurrency <= 1024, "--concurrency must be 1..1024"),
        (0.0 <= args.redeliver <= 1.0, "--redeliver must be 0..1"),
        (args.rate >= 0 and args.latency_rate >= 0, "rates must be >= 0"),
        (args.latency_groups >= 1, "--latency-groups must be >= 1"),
        (args.drain_timeout > 0 and args.phase_timeout > 0, "timeouts must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            p.error(message)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except HarnessError as exc:
        log(f"harness error: {exc}")
        return 2
    except Exception:
        log("harness error:\n" + traceback.format_exc())
        return 2
    print_table(report)
    if report.get("bot_log_error_sample"):
        print("bot log errors (first lines):")
        for line in report["bot_log_error_sample"]:
            print(f"  {line[:300]}")
        print(f"full bot log: {report['bot_log']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        log(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
