"""The embedded default: with no ``RAY_ADDRESS``, opsbot uses a Ray head on this machine, and
starts one (``ray start --head``, job API on 127.0.0.1) the first time a job needs it.

A head started here outlives opsbot (as ``ray start`` does), so running jobs survive a restart of
the bot and it reattaches to them. Its GCS port is not Ray's default 6379 (often a Redis).
``RAY_AUTH_MODE`` is set explicitly (``disabled`` unless the environment says otherwise) for the
head and for opsbot's own job client alike.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.errors import ExternalServiceError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 90.0
# opsbot often runs under `uv run`; a Ray driver that finds `uv run` among its ancestors ships
# the current directory as its working_dir and builds a new venv for every job (without the
# jobs group). The jobs use the environment the head runs in instead.
NO_UV_RUN = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}


class LocalRayHead:
    def __init__(self, *, dashboard_port: int = 8265, gcs_port: int = 6380) -> None:
        self.dashboard_port = dashboard_port
        self.gcs_port = gcs_port
        self.address = f"http://127.0.0.1:{dashboard_port}"
        self._lock = threading.Lock()
        self._up = False

    def _answers(self) -> bool:
        import httpx  # ~0.2 s to import: not at start, where the head is only named

        try:
            return httpx.get(f"{self.address}/api/version", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def ensure(self) -> None:
        """Make sure the local head answers; start it if nothing does (once, ~15 s)."""
        if self._up:
            return
        with self._lock:
            if self._up or self._answers():
                self._up = True
                return
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray = Path(sys.executable).parent / "ray"
            binary = str(ray) if ray.exists() else shutil.which("ray")
            if binary is None:
                raise ExternalServiceError(
                    "ray", "start", None, "no `ray` command here: install opsbot with uv sync"
                )
            cmd = [
                binary,
                "start",
                "--head",
                f"--port={self.gcs_port}",
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                "--disable-usage-stats",
            ]
            log.info("starting a local Ray head: %s", " ".join(cmd))
            env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **NO_UV_RUN}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
            if done.returncode != 0:
                raise ExternalServiceError(
                    "ray", "start", None, (done.stderr or done.stdout).strip()[-400:]
                )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if self._answers():
                    self._up = True
                    return
                time.sleep(0.5)
            raise ExternalServiceError(
                "ray", "start", None, f"the local head did not answer in {START_TIMEOUT_S:.0f} s"
            )
