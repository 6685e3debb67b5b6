"""A real local Ray head for the tests: ``ray start --head --block`` with the job API (dashboard)
on 127.0.0.1 and free ports, in a temporary directory of its own.

Traps it avoids (see the stack notes): the GCS port defaults to 6379, where Redis listens on
these machines; an in-process ``ray.init()`` leaves ``~/.ray/auth_token`` behind, after which a
new head turns token auth on and the job client fails with "Missing authentication token". So
``RAY_AUTH_MODE`` is set explicitly (head, drivers and the bot all read it) and the token file is
removed first. The head runs in its own process group; stopping it ends the group, not every Ray
on the machine (as ``ray stop`` would).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    # The tests run under `uv run`; a Ray driver that finds `uv run` among its ancestors would
    # otherwise ship this checkout as its working_dir and build a fresh venv for each job.
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RayHead:
    address: str  # the job API: http://127.0.0.1:<dashboard port>
    process: subprocess.Popen[bytes]
    temp_dir: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        # Ray workers put themselves in process groups of their own, but stay in the head's
        # session: end whatever is left of it.
        for pid in _session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _session_members(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getsid(int(entry)) == sid:
                    found.append(int(entry))
    return found


def start_head(num_cpus: int = 4) -> RayHead:
    """Start a head and wait until its job API answers. ``num_cpus`` is logical: jobs reserve
    CPUs, and a training job's workers and a driver must fit beside each other."""
    os.environ.update(RAY_ENV)
    token = Path.home() / ".ray" / "auth_token"
    token.unlink(missing_ok=True)
    temp_dir = Path(tempfile.mkdtemp(prefix="opsray-", dir="/tmp"))
    log_path = temp_dir / "head.log"
    dashboard = free_port()
    ray_bin = Path(sys.executable).parent / "ray"
    cmd = [
        str(ray_bin),
        "start",
        "--head",
        "--block",
        f"--port={free_port()}",
        f"--num-cpus={num_cpus}",
        "--num-gpus=0",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    env = {**os.environ, **RAY_ENV}
    # Every Ray worker and job driver imports torch, pandas and pyarrow. Where the environment
    # forbids bytecode files (PYTHONDONTWRITEBYTECODE, as on CI machines) each would compile
    # them from source (~5 s a process); a shared cache outside the venv keeps that to once.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "opsbot-pycache"))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    head = RayHead(f"http://127.0.0.1:{dashboard}", process, temp_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")[-3000:]
            head.stop()
            raise RuntimeError(f"ray start exited with {process.returncode}:\n{output}")
        try:
            nodes = httpx.get(f"{head.address}/api/v0/nodes", timeout=2.0)
            if nodes.status_code == 200 and nodes.json()["data"]["result"]["result"]:
                return head
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    head.stop()
    raise RuntimeError(f"the Ray head did not answer within {START_TIMEOUT_S:.0f} s")
