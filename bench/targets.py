"""Issue 17's performance targets in one table: intake, ack, storm visibility, answers, start.

    uv run python bench/targets.py                  # every bench below, one after the other
    uv run python bench/targets.py --only intake    # the benches whose name contains "intake"

Runs each bench as its own process, exactly as a person would (their output is shown as it
comes), each writing its headline figures with ``--figures`` (``bench/figures.py``), then prints
one table: figure, target, measured, met or not, with the machine and the load average (a CI
run or anything else beside these benches shows up there, and stretches every figure).

    intake-sqlite    bench/intake.py                    wrk, single-alert deliveries; paced 100/s
    intake-postgres  bench/intake.py --db postgres
    visibility       bench/visibility.py                real Alertmanager, both receivers
    answers          bench/click_ack.py --only answers  alert → offer, click → approval request
    start            bench/start.py                     exec → /readyz, idle RSS

Exit 0 when every target is met, 1 when one is missed, 2 when a bench could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Figures = dict[str, Any]


@dataclass(frozen=True)
class Target:
    figure: str  # what is measured, as the table says it
    target: str  # the target, as the table says it
    read: Callable[[Figures], float | None]  # the measured value from the bench's figures
    met: Callable[[float], bool]
    unit: str


@dataclass(frozen=True)
class Bench:
    name: str
    argv: list[str]
    targets: list[Target]


def at_least(limit: float) -> Callable[[float], bool]:
    return lambda value: value >= limit


def at_most(limit: float) -> Callable[[float], bool]:
    return lambda value: value <= limit


def intake_targets(rate: float) -> list[Target]:
    return [
        Target("deliveries/s at saturation", f"≥ {rate:g}", lambda f: f["deliveries_per_s"],
               at_least(rate), "/s"),
        Target("lost + duplicated + errors", "0",
               lambda f: f["lost"] + f["duplicated"] + f["errors"], at_most(0), ""),
        Target("ack p99 at a paced 100/s", "≤ 50 ms", lambda f: f["paced_p99_ms"],
               at_most(50.0), " ms"),
    ]  # fmt: skip


BENCHES = [
    Bench("intake-sqlite", ["intake.py"], intake_targets(600.0)),
    Bench("intake-postgres", ["intake.py", "--db", "postgres"], intake_targets(400.0)),
    Bench(
        "visibility",
        ["visibility.py"],
        [
            Target("20 groups in 5 s: slowest named after Alertmanager's post", "≤ 2 s",
                   lambda f: None if f["storm_unnamed"] else f["storm_named_max_s"],
                   at_most(2.0), " s"),
            Target("Slack rate violations", "0", lambda f: f["rate_violations"], at_most(0), ""),
        ],
    ),
    Bench(
        "answers",
        ["click_ack.py", "--only", "answers"],
        [
            Target("click → approval request in the thread (worst)", "≤ 300 ms",
                   lambda f: f["worst_ms"].get("click → approval request"), at_most(300.0), " ms"),
            Target("alert → playbook offered on the root (worst)", "≤ 1000 ms",
                   lambda f: f["worst_ms"].get("alert → offer on the root"), at_most(1000.0),
                   " ms"),
        ],
    ),
    Bench(
        "start",
        ["start.py"],
        [
            Target("exec → /readyz (worst of 5)", "≤ 2.5 s", lambda f: f["ready_s_worst"],
                   at_most(2.5), " s"),
            Target("idle RSS (worst of 5)", "≤ 120 MB", lambda f: f["idle_mb_worst"],
                   at_most(120.0), " MB"),
        ],
    ),
]  # fmt: skip


def run(bench: Bench, out: Path) -> Figures | None:
    """Run one bench, its output shown as it comes; its figures, or None when it could not run
    (exit 2, or nothing written)."""
    print(f"\n==> {bench.name}: {' '.join(bench.argv)}", flush=True)
    argv = [sys.executable, str(HERE / bench.argv[0]), *bench.argv[1:], "--figures", str(out)]
    code = subprocess.run(argv, check=False).returncode
    if code == 2 or not out.exists():
        print(f"==> {bench.name} could not run (exit {code})", flush=True)
        return None
    figures: Figures = json.loads(out.read_text())
    return figures


def table(results: list[tuple[Bench, Figures | None]]) -> tuple[list[str], bool]:
    lines = ["| bench | figure | target | measured | met | load at its end |", "|---" * 6 + "|"]
    all_met = True
    for bench, figures in results:
        for t in bench.targets:
            value = t.read(figures) if figures is not None else None
            met = value is not None and t.met(value)
            all_met = all_met and met
            shown = "did not run" if value is None else f"{value:.4g}{t.unit}"
            load = figures.get("load_at_end", "") if figures else ""
            lines.append(
                f"| {bench.name} | {t.figure} | {t.target} | {shown} | "
                f"{'yes' if met else 'NO'} | {load} |"
            )
    return lines, all_met


def yardstick(n: int = 5_000_000, tries: int = 3) -> float:
    """Seconds this host's Python takes for ``n`` additions in a loop, best of ``tries``: the
    benches' figures scale with it, so a table taken on a slower host says so next to it."""
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        total = 0
        for i in range(n):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the benches whose name contains this")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if args.only is None or args.only in b.name]
    if not chosen:
        print(f"no bench named like {args.only!r}: {', '.join(b.name for b in BENCHES)}")
        return 2
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    speed = yardstick()
    with tempfile.TemporaryDirectory(prefix="opsbot-targets-") as tmp:
        results = [(b, run(b, Path(tmp) / f"{b.name}.json")) for b in chosen]
    lines, all_met = table(results)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average before {before}; yardstick {speed:.3f} s "
        "(5M additions in a Python loop, best of 3: the figures scale with it)"
    )
    print("\n".join(lines))
    if any(figures is None for _, figures in results):
        return 2
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
