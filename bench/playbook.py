"""Playbook benchmark: the shipped ``rollback-model-deploy`` end to end, against the Kubernetes
API fake and a real Prometheus, on SQLite.

    uv run python bench/playbook.py              # 20 runs
    uv run python bench/playbook.py --runs 50

Each run: the service is rolled forward to a new image (so there is something to roll back), the
playbook starts (policy, audit, plan, approval token), a second person approves, and a *new*
executor and runner — new database connections and a cold checkpointer, as after a restart —
resume it: rollback → wait_for_rollout → check_metric → post_message.

It reports, per step, the time spent in opsbot itself: the step's wall time minus the time
inside Kubernetes API calls, Prometheus queries and deliberate waits (the check's hold and
poll sleeps). Target ≤ 50 ms per step. And the resume time after a restart: from building the
new runner to the resumed step reaching its first Kubernetes call. Target ≤ 2 s. The start-up
of a whole ``opsbot serve`` process (Python imports) is printed separately: it is paid once per
process, not per run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.catalog.load import parse_catalog  # noqa: E402
from bot.clients.kubernetes import KubeClient  # noqa: E402
from bot.clients.prometheus import PromClient  # noqa: E402
from bot.clients.set import Clients  # noqa: E402
from bot.runner.context import service_context  # noqa: E402
from bot.runner.execute import Executor  # noqa: E402
from bot.runner.graph import PlaybookRunner, checkpointer_for  # noqa: E402
from bot.runner.playbook import Step, load_dir  # noqa: E402
from bot.store.engine import make_engine  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.run_models import PlaybookRun  # noqa: E402
from tests.fakes.kubernetes.api import KubeApiFake  # noqa: E402
from tests.integration.promstack import Prometheus, wait_until  # noqa: E402
from tests.support.exporter import ScriptedExporter  # noqa: E402

NS, DEPLOY = "ml-serving", "fraud-scorer"
PLAYBOOK = "rollback-model-deploy"
TARGET_STEP_MS = 50.0
TARGET_RESUME_S = 2.0
CATALOG = f"""
services:
  fraud-scorer:
    namespace: {NS}
    deployments: [{DEPLOY}]
    signals: [{{name: error_rate, query: 'max(bench_error_ratio)'}}]
policy:
  namespaces: [{NS}]
  groups: {{sre: [U0ALICE, U0BOB]}}
  rules:
    - actions: [rollback_deployment]
      playbooks: [rollback-model-deploy]
      run: ["@sre"]
      approve: ["@sre"]
"""


class Meter:
    """Time spent outside opsbot, per step: Kubernetes, Prometheus, deliberate sleeps."""

    def __init__(self) -> None:
        self.external = 0.0
        self.first_call_at: float | None = None

    def timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            if self.first_call_at is None:
                self.first_call_at = started
            try:
                return fn(*args, **kwargs)
            finally:
                self.external += time.perf_counter() - started

        return call

    def sleep(self, seconds: float) -> None:
        started = time.perf_counter()
        time.sleep(seconds)
        self.external += time.perf_counter() - started


class Timed:
    """Every public method of ``inner``, timed into the meter."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self._inner = inner
        self._meter = meter

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if callable(value) and not name.startswith("_"):
            return self._meter.timed(value)
        return value


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opsbot-playbook-") as tmp_dir:
        tmp = Path(tmp_dir)
        return run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> int:
    db_url = f"sqlite:///{tmp / 'opsbot.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    catalog = parse_catalog(CATALOG)
    playbooks, problems = load_dir(ROOT / "playbooks")
    assert not problems, problems
    overhead: dict[str, list[float]] = defaultdict(list)
    resumes: list[float] = []
    with ScriptedExporter() as exporter, KubeApiFake() as kube:
        exporter.set("bench_error_ratio", 0.01)
        with Prometheus(tmp / "prom", exporter.url) as prom:
            start = datetime.now(UTC) - timedelta(hours=3)
            kube.add_deployment(NS, DEPLOY, "registry/fraud-scorer:1.0.0", at=start)
            kubeconfig = str(kube.write_kubeconfig(tmp / "kubeconfig"))
            client = PromClient(prom.url)
            since = datetime.now(UTC) - timedelta(minutes=1)
            wait_until(  # a few scrapes, so the check has history to read
                lambda: (
                    len(client.query_range("max(bench_error_ratio)", since, datetime.now(UTC), 1.0))
                    >= 3
                ),
                30,
                "three samples of the checked signal",
                prom.log_tail,
            )
            for i in range(args.runs):
                kube.roll(NS, DEPLOY, f"registry/fraud-scorer:1.0.{i + 1}")
                step_ms, resume_s = one_run(
                    engine, db_url, catalog, playbooks, kubeconfig, prom.url
                )
                for step, ms in step_ms.items():
                    overhead[step].append(ms)
                resumes.append(resume_s)
    engine.dispose()
    report(args, overhead, resumes)
    return 0


def one_run(
    engine: Any, db_url: str, catalog: Any, playbooks: Any, kubeconfig: str, prom_url: str
) -> tuple[dict[str, float], float]:
    # The run asks for approval in one process...
    first_meter = Meter()
    kc = KubeClient.from_kubeconfig(kubeconfig)
    executor = Executor(engine, catalog, Clients(kube=Timed(kc, first_meter)))
    saver, close = checkpointer_for(db_url)
    runner = PlaybookRunner(engine, executor, playbooks, saver)
    view = runner.start(
        PLAYBOOK,
        actor="U0ALICE",
        context=service_context(catalog, "fraud-scorer"),
        params={"hold_s": "1", "verify_timeout_s": "30"},
    )
    assert view.status == "waiting", view
    assert view.waiting_for is not None
    close()
    kc.close()

    # ... and is approved, then resumed by a restarted one.
    meter = Meter()
    kc2 = KubeClient.from_kubeconfig(kubeconfig)
    prom = PromClient(prom_url)
    executor2 = Executor(
        engine,
        catalog,
        Clients(kube=Timed(kc2, meter), prom=Timed(prom, meter)),
        say=lambda _i, _t: None,
        sleep=meter.sleep,
    )
    out: dict[str, float] = {}
    clicked = time.perf_counter()
    approved = executor2.approve(view.waiting_for, "U0BOB")  # applies the rollback
    assert approved.status == "succeeded", approved.message
    out["approve + rollback"] = ((time.perf_counter() - clicked) - meter.external) * 1000

    step_marks: list[tuple[str, float, float]] = []  # (step, at, external so far)

    def progress(_run: PlaybookRun, step: Step, _result: dict[str, Any]) -> None:
        step_marks.append((step.name, time.perf_counter(), meter.external))

    meter.first_call_at = None
    began, external_at_began = time.perf_counter(), meter.external
    saver2, close2 = checkpointer_for(db_url)
    runner2 = PlaybookRunner(engine, executor2, playbooks, saver2, on_progress=progress)
    done = runner2.resume(view.id)
    assert done.status == "succeeded", done.steps
    close2()
    kc2.close()
    resume_s = (meter.first_call_at or time.perf_counter()) - began
    previous_at, previous_ext = began, external_at_began
    for name, at, external in step_marks:
        label = "resume (checkpoint) + rollback" if name == "rollback" else name
        out[label] = max(0.0, (at - previous_at) - (external - previous_ext)) * 1000
        previous_at, previous_ext = at, external
    return out, resume_s


def report(
    args: argparse.Namespace, overhead: dict[str, list[float]], resumes: list[float]
) -> None:
    print()
    print(f"playbook benchmark: {PLAYBOOK}, {args.runs} runs, SQLite, K8s fake + real Prometheus")
    print("time in opsbot per step (wall minus Kubernetes, Prometheus and deliberate waits):")
    for step, values in overhead.items():
        p95 = pct(values, 0.95)
        verdict = "PASS" if p95 <= TARGET_STEP_MS else "SHORT"
        print(
            f"  {step:<32} p50 {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms  "
            f"max {max(values):6.1f} ms  {verdict}"
        )
    p95 = pct(resumes, 0.95)
    print(
        f"resume after a restart (new runner, cold checkpointer → next step's first K8s call): "
        f"p50 {statistics.median(resumes):.3f} s  p95 {p95:.3f} s  "
        f"{'PASS' if p95 <= TARGET_RESUME_S else 'SHORT'}"
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import bot.app"], cwd=ROOT, check=True, capture_output=True
    )
    print(f"(once per process: importing opsbot takes {time.perf_counter() - started:.1f} s)")
    print(f"targets: ≤ {TARGET_STEP_MS:g} ms per step in opsbot, resume ≤ {TARGET_RESUME_S:g} s")


if __name__ == "__main__":
    sys.exit(main())
