"""``opsbot serve`` takes its long-lived objects out of the collector's full passes when ready,
and the chart's libraries too once the warm-up has loaded them (``bot.wiring.heap``)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.fleet import wait_for
from tests.support.server import BotProcess

SETTLED = re.compile(r"heap settled: (\d+) long-lived objects")


def test_serve_settles_its_heap_when_ready_and_after_the_warm_up(tmp_path: Path) -> None:
    env = {
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'opsbot.db'}",
        # Configured (the warm-up loads the chart's libraries only where a chart can be drawn);
        # nothing needs to answer there.
        "OPSBOT_PROMETHEUS_URL": "http://127.0.0.1:9",
        "OPSBOT_WARM_UP_S": "0.2",
    }
    with BotProcess(env, log_path=tmp_path / "bot.log") as bot:
        wait_for(
            lambda: "warm-up done" in bot.logs() and len(SETTLED.findall(bot.logs())) >= 2,
            30,
            "the heap settled at ready and after the warm-up",
        )
        logs = bot.logs()
    at_ready, after_warm_up = (int(n) for n in SETTLED.findall(logs)[:2])
    assert logs.index("heap settled") < logs.index("opsbot ready")
    assert at_ready > 50_000  # modules, clients, compiled statements
    # matplotlib and numpy, loaded by the warm-up, join them.
    assert after_warm_up > at_ready + 10_000
