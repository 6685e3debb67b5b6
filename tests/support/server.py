"""Start a real ``opsbot serve`` process for integration tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """``python -m bot serve`` on a free port, with the given environment."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        port: int | None = None,
        log_path: Path,
        stderr_path: Path | None = None,
    ) -> None:
        """Output goes to ``log_path``; stderr (the logs) to ``stderr_path`` when given."""
        self.port = port or free_port()
        self.stderr_path = stderr_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_"))}
        env.update(self.env)
        env.setdefault("OPSBOT_LOG_LEVEL", "INFO")
        # No load balancer to wait for: SIGTERM shuts down at once unless a test asks for a drain.
        env.setdefault("OPSBOT_DRAIN_DELAY_S", "0")
        log = self.log_path.open("ab")
        err = self.stderr_path.open("ab") if self.stderr_path else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=err or subprocess.STDOUT,
        )
        log.close()
        if err:
            err.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"opsbot exited with {self.proc.returncode}: {self.logs()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"opsbot not ready in {timeout}s: {self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """``kill -9``: no shutdown hooks, no flush."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(
    *args: str, env: dict[str, str], home: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` as a newcomer's shell runs it: only ``env``, a ``HOME`` of its own."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
