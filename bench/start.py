"""Start: ``opsbot serve`` from exec to ready, and what the idle process holds.

    uv run python bench/start.py                # five starts, the embedded defaults
    uv run python bench/start.py --runs 10      # ten starts
    uv run python bench/start.py --prometheus   # with Prometheus: the chart warm-up runs
    uv run python bench/start.py --no-bytecode  # every module compiled at each start

Each run starts the ``opsbot`` command (``opsbot serve``, the README's run command) as a real
process with the embedded defaults: a fresh SQLite file (so the migrations run too), the console
transport, no Kubernetes, Prometheus, LLM, PagerDuty or Ray configured (their variables are taken
out of the environment). With ``--prometheus``, ``OPSBOT_PROMETHEUS_URL`` names a port nothing
listens on (nothing queries it while idle): charts can then be drawn, so the background warm-up
loads their libraries (bot/wiring/warm_up.py); ``--no-warm-up`` sets ``OPSBOT_WARM_UP_S=0``.

Bytecode: the image compiles it at build (``UV_COMPILE_BYTECODE=1``) and Python caches it on a
developer's machine after the first run, so by default the runs read it from a cache of their
own (``PYTHONPYCACHEPREFIX``, filled by one start that is not counted; the checkout's files are
never touched). Where ``PYTHONDONTWRITEBYTECODE=1`` is set and nothing was compiled (a CI box, a
fresh checkout), every start compiles every module it imports, about as long again:
``--no-bytecode`` measures that.

Per run:

  ready      exec → the first 200 from ``GET /readyz`` (polled every 10 ms), and the CPU time
             the process used until then (a busy machine stretches the first, less the second);
  idle       the RSS of the process and its children after ``--idle`` seconds of nothing
             (before the warm-up, which starts ``OPSBOT_WARM_UP_S``, 10 s, after start);
  warmed     with ``--prometheus``: the same once the warm-up logged that it is done, and
             ``--idle`` seconds more;
  alert      one firing alert posted (``opsbot demo``'s, timed now) → its answer: the first
             webhook, as an on-call engineer's first alert meets it.

Prints each run, the median and the worst, and the machine (cores, memory, load average: a CI
run beside this one shows up there). Targets: ready ≤ 2.5 s and idle RSS ≤ 120 MB, both for the
worst run. Exit 0 when both are met, 1 when one is missed, 2 when the harness itself cannot run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from figures import add_option, write  # noqa: E402

from bot.demo import firing_alert  # noqa: E402
from tests.support.server import free_port  # noqa: E402

TARGET_READY_S = 2.5
TARGET_IDLE_MB = 120.0
POLL_S = 0.01
AM_TOKEN = "bench-am-token"
WARMED = re.compile(r"warm-up done")
# Variables that would configure an outside system: the embedded defaults have none of them.
CONFIGURING = ("OPSBOT_", "SLACK_", "PAGERDUTY_", "OPENAI_", "KUBE", "RAY_", "MLFLOW_")


@dataclass
class Run:
    ready_s: float
    ready_cpu_s: float
    idle_mb: float
    warmed_mb: float | None
    alert_ms: float


def opsbot_command() -> list[str]:
    """The ``opsbot`` console script of this environment (what ``uv run opsbot`` execs)."""
    script = Path(sys.executable).parent / "opsbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def rss_mb(pid: int) -> float:
    """Resident memory of the process and all its children, in MB (10^6 bytes)."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended meanwhile
            total += child.memory_info().rss
    return total / 1e6


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process and its children have used so far."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(child.cpu_times()[:2])
    return total


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_for(
    pattern: re.Pattern[str], log: Path, timeout: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pattern.search(log.read_text(errors="replace")):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"opsbot exited with {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"no {pattern.pattern!r} in the log after {timeout:g} s")


def environment(args: argparse.Namespace, workdir: Path, pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURING)}
    env.update(
        OPSBOT_DATABASE_URL=f"sqlite:///{workdir / 'opsbot.db'}",
        OPSBOT_ALERTMANAGER_TOKEN=AM_TOKEN,
        OPSBOT_LOG_LEVEL="INFO",
        OPSBOT_DRAIN_DELAY_S="0",
        # Bytecode read from (and written to) this run's own cache only, never the checkout's.
        PYTHONPYCACHEPREFIX=str(pycache),
    )
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.prometheus:
        env["OPSBOT_PROMETHEUS_URL"] = f"http://127.0.0.1:{free_port()}"
    if args.no_warm_up:
        env["OPSBOT_WARM_UP_S"] = "0"
    return env


class Started:
    """One ``opsbot serve``, from exec to its first 200 on ``/readyz``."""

    def __init__(self, args: argparse.Namespace, workdir: Path, pycache: Path) -> None:
        self.port = free_port()
        self.log = workdir / "opsbot.log"
        self.ready_cpu_s = 0.0
        command = [*opsbot_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        env = environment(args, workdir, pycache)
        with self.log.open("wb") as out:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            self.ready_s = self._ready(started, args.timeout)
        except BaseException:
            self.stop()
            raise

    def _ready(self, started: float, timeout: float) -> float:
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"opsbot exited with {self.proc.returncode}: {self.tail()}")
            try:
                if request(self.port, "GET", "/readyz") == 200:
                    ready_s = time.perf_counter() - started
                    self.ready_cpu_s = cpu_s(self.proc.pid)
                    return ready_s
            except OSError:
                pass
            time.sleep(POLL_S)
        raise TimeoutError(f"opsbot not ready in {timeout:g} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def one_start(args: argparse.Namespace, workdir: Path, pycache: Path) -> Run:
    bot = Started(args, workdir, pycache)
    try:
        time.sleep(args.idle)
        idle_mb = rss_mb(bot.proc.pid)
        warmed_mb = None
        if args.prometheus and not args.no_warm_up:
            wait_for(WARMED, bot.log, args.timeout, bot.proc)
            time.sleep(args.idle)
            warmed_mb = rss_mb(bot.proc.pid)
        body = json.dumps(firing_alert(datetime.now(UTC))).encode()
        headers = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
        sent = time.perf_counter()
        status = request(bot.port, "POST", "/webhooks/alertmanager", body, headers)
        alert_ms = (time.perf_counter() - sent) * 1000
        if status >= 300:
            raise RuntimeError(f"the alert was answered {status}: {bot.tail()}")
        return Run(bot.ready_s, bot.ready_cpu_s, idle_mb, warmed_mb, alert_ms)
    finally:
        bot.stop()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0))
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cores} cores ({cpu}), {memory:.1f} GiB memory, Python {platform.python_version()}, "
        f"load average {load}"
    )


def summary(name: str, values: list[float], unit: str, fmt: str, target: float | None) -> str:
    line = f"{name:<8} median {format(statistics.median(values), fmt)} {unit}, "
    line += f"max {format(max(values), fmt)} {unit}"
    if target is not None:
        verdict = "met" if max(values) <= target else "MISSED"
        line += f"   target ≤ {format(target, fmt)} {unit}: {verdict}"
    return line


def one_run(args: argparse.Namespace, i: int, pycache: Path) -> Run:
    with tempfile.TemporaryDirectory(prefix="opsbot-start-") as workdir:
        r = one_start(args, Path(workdir), pycache)
    warmed = f"{r.warmed_mb:6.1f} MB" if r.warmed_mb is not None else "     -   "
    print(
        f"run {i + 1}: ready {r.ready_s:5.2f} s (cpu {r.ready_cpu_s:4.2f} s)   "
        f"idle {r.idle_mb:6.1f} MB   warmed {warmed}   first alert {r.alert_ms:6.1f} ms",
        flush=True,
    )
    return r


def run(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    configured = "SQLite, console transport" + (", Prometheus" if args.prometheus else "")
    if args.no_warm_up:
        configured += ", OPSBOT_WARM_UP_S=0"
    print(f"command: {' '.join(opsbot_command())} serve ({configured})")
    pycache = Path(tempfile.mkdtemp(prefix="opsbot-pycache-"))
    try:
        if args.no_bytecode:
            print("bytecode: none, every module compiled at each start (PYTHONDONTWRITEBYTECODE=1)")
        else:
            print("bytecode: cached, as the image has it (filled by one start not counted)")
            with tempfile.TemporaryDirectory(prefix="opsbot-start-") as workdir:
                Started(args, Path(workdir), pycache).stop()
        runs = [one_run(args, i, pycache) for i in range(args.runs)]
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
    print(f"after {args.runs} start(s), idle = {args.idle:g} s after ready:")
    print(summary("ready", [r.ready_s for r in runs], "s", ".2f", TARGET_READY_S))
    print(summary("cpu", [r.ready_cpu_s for r in runs], "s", ".2f", None))
    print(summary("idle", [r.idle_mb for r in runs], "MB", ".1f", TARGET_IDLE_MB))
    warmed = [r.warmed_mb for r in runs if r.warmed_mb is not None]
    if warmed:
        print(summary("warmed", warmed, "MB", ".1f", None))
    print(summary("alert", [r.alert_ms for r in runs], "ms", ".1f", None))
    met = max(r.ready_s for r in runs) <= TARGET_READY_S
    met = met and max(r.idle_mb for r in runs) <= TARGET_IDLE_MB
    write(
        args.figures,
        {
            "ready_s_median": statistics.median(r.ready_s for r in runs),
            "ready_s_worst": max(r.ready_s for r in runs),
            "idle_mb_worst": max(r.idle_mb for r in runs),
            "bytecode": not args.no_bytecode,
        },
    )
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="how many starts (default 5)")
    parser.add_argument(
        "--idle", type=float, default=5.0, help="seconds idle before RSS is read (default 5)"
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="set OPSBOT_PROMETHEUS_URL (charts can be drawn: the warm-up runs; 'warmed' read)",
    )
    parser.add_argument(
        "--no-warm-up", action="store_true", help="OPSBOT_WARM_UP_S=0: no background warm-up"
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="no bytecode cache: every module compiled at each start (PYTHONDONTWRITEBYTECODE=1)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per wait, in seconds")
    add_option(parser)
    args = parser.parse_args()
    try:
        return run(args)
    except (OSError, RuntimeError, TimeoutError, psutil.Error) as exc:
        print(f"start benchmark could not run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
