"""A serving opsbot loads no heavy library it does not use yet.

Each test starts a fresh interpreter, builds the app from the environment and runs its start (the
lifespan: migrations, the fleet, every background loop's own start), then lists ``sys.modules``.
With the embedded defaults (SQLite, console transport, nothing outside configured) none of the
libraries below is there: they load with the client that needs them, or with the first chart.
bench/start.py measures what that buys (time to ready, idle RSS); this keeps it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import ROOT, free_port

# Each is a second or more to import, or tens of MB to hold, and none is needed to be ready.
HEAVY = (
    "matplotlib",
    "numpy",
    "PIL",
    "kubernetes",
    "prometheus_api_client",
    "requests",
    "pagerduty",
    "httpx2",
    "aiohttp",
    "httpx",
    "rich",
    "openai",
    "langgraph",
    "langchain_core",
    "ray",
    "pandas",
    "pyarrow",
    "torch",
    "mlflow",
)
# Variables that would configure an outside system (and so load its client at start).
CONFIGURING = ("OPSBOT_", "SLACK_", "PAGERDUTY_", "OPENAI_", "KUBE", "RAY_ADDRESS", "MLFLOW_")

STARTED = """
import asyncio, json, sys

from bot.app import build_app
from bot.config import Settings


async def main() -> None:
    app = build_app(Settings())
    async with app.router.lifespan_context(app):
        fleet = app.state.runtime.fleet
        for _ in range(200):  # the background loops start once this replica leads them
            if "enrich" in fleet.leading():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(float(sys.argv[1]))  # each loop's own start, the warm-up's wait
        print(json.dumps(sorted(sys.modules)))


asyncio.run(main())
"""


def loaded(code: str, tmp_path: Path, *args: str, **env: str) -> set[str]:
    """The modules a fresh interpreter holds after ``code``, which prints them as JSON."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURING)}
    clean.update(
        OPSBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'opsbot.db'}",
        OPSBOT_ALERTMANAGER_TOKEN="lazy-imports-token",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    modules = loaded("import json, sys, bot.cli; print(json.dumps(sorted(sys.modules)))", tmp_path)
    assert heavy_in(modules) == []


def test_a_started_app_with_the_embedded_defaults_loads_no_heavy_library(tmp_path: Path) -> None:
    # OPSBOT_WARM_UP_S=0.1: were a warm-up to load anything here, it would have by now.
    modules = loaded(STARTED, tmp_path, "1.0", OPSBOT_WARM_UP_S="0.1")
    assert heavy_in(modules) == []


def test_where_charts_can_be_drawn_the_warm_up_loads_their_libraries_after_start(
    tmp_path: Path,
) -> None:
    nothing_there = f"http://127.0.0.1:{free_port()}"  # no query is made while idle
    settings = {"OPSBOT_PROMETHEUS_URL": nothing_there}
    before = loaded(STARTED, tmp_path, "0", OPSBOT_WARM_UP_S="60", **settings)
    assert "matplotlib" not in before  # not at start: the warm-up waits OPSBOT_WARM_UP_S
    after = loaded(STARTED, tmp_path, "5", OPSBOT_WARM_UP_S="0.1", **settings)
    assert {"matplotlib", "numpy"} <= after
