"""Batch scoring: Ray Data (one actor per core) against a one-thread Arrow/numpy loop.

    uv run python bench/batch_score.py                 # 6,000,000 rows, hidden 256, 3 runs each
    uv run python bench/batch_score.py --rows 500000 --runs 2 --hidden 64

Both sides score the same Parquet folder with the same model and batch size, and both read
Parquet and write Parquet: (a) ``ray_jobs.batch_score.score`` on an in-process Ray
(``num_cpus`` = the machine's cores, one single-threaded actor per core); (b) a child process
with one thread (OMP/BLAS/Arrow/torch all set to one thread before numpy is imported) that reads
each file, calls the same ``score_batch`` (``batch_size`` rows per model call) and writes one
Parquet file per input file. The default model is a production-size 3-layer MLP
(10 → 256 → 128 → 1), bigger than ``ray_jobs.train``'s default (hidden 64); the default input
(6 M rows) is large enough that a job's fixed start-up is amortised as in a real re-scoring job.
Each side gets one untimed warm-up run over a one-file input of ``batch_size`` rows, then
``--runs`` timed runs over the full input; medians are reported. Ray's fixed overhead (actor
start-up, first batch, write, teardown) is measured on its own: ``score()`` over that one-file
input, median of ``--runs``.
Exit status: 0 when the benchmark ran (a ratio under the target is reported, not an error).
"""

from __future__ import annotations

import os
import sys
import tempfile

# Before numpy/torch/pyarrow are imported: the baseline child must be single-threaded, and Ray
# must not replay `uv run` on its workers (its uv hook would build a new venv per worker).
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "ARROW_NUM_THREADS": "1",  # not read by pyarrow; set_cpu_count below does it
}
RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}
BASELINE_FLAG = "--baseline-child"
if BASELINE_FLAG in sys.argv:
    os.environ.update(SINGLE_THREAD_ENV)
os.environ.update(RAY_ENV)
# Every Ray actor is a new Python process that imports torch, pandas and pyarrow. Where
# PYTHONDONTWRITEBYTECODE is set and the venv holds no .pyc files (as on the dev machines), each
# of them compiles those packages from source, seconds per actor on every run. Cache bytecode
# outside the venv instead, as any deployed image (compiled bytecode) would have it.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    os.environ.setdefault(
        "PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "opsbot-pycache")
    )

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from stormlib.observe import RssSampler  # noqa: E402  (bench/ is on sys.path: this script's directory)

from ray_jobs import model as fraud_model  # noqa: E402
from ray_jobs import sample_data  # noqa: E402
from ray_jobs.batch_score import score_batch  # noqa: E402

TARGET_RATIO = 1.7


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- data and model


def make_data(folder: Path, rows: int, files: int, seed: int) -> None:
    """``rows`` transactions as ``files`` Parquet files (without the label)."""
    folder.mkdir(parents=True, exist_ok=True)
    df = sample_data.generate(rows, seed=seed).drop(columns=[sample_data.LABEL])
    for i, part in enumerate(np.array_split(np.arange(rows), files)):
        chunk = df.iloc[part[0] : part[-1] + 1]
        pq.write_table(
            pa.Table.from_pandas(chunk, preserve_index=False), folder / f"part-{i:03d}.parquet"
        )


def make_model(model_dir: Path, data: Path, hidden: int) -> None:
    """An untrained model with the data's standardisation: throughput does not need a good one."""
    x = pq.read_table(sorted(data.glob("*.parquet"))[0], columns=sample_data.FEATURES)
    matrix = fraud_model.as_matrix(x.to_pandas(), sample_data.FEATURES)
    mean, std = fraud_model.standardisation(matrix)
    torch.manual_seed(0)
    net = fraud_model.FraudMLP(len(sample_data.FEATURES), hidden, mean, std)
    fraud_model.save(model_dir, net, sample_data.FEATURES, hidden, mean, std)


# ---------------------------------------------------------------- (b) one-thread baseline


def baseline_once(model_dir: Path, data: Path, out: Path, batch_size: int, keep: list[str]) -> int:
    """What one Ray actor does, in one thread: read a file, score it in ``batch_size`` slices
    with the same ``score_batch``, write the ids and scores; for every file."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    scorer = fraud_model.load(model_dir)
    columns = list(dict.fromkeys([*keep, *scorer.features]))
    rows = 0
    for path in sorted(data.glob("*.parquet")):
        table = pq.read_table(path, columns=columns, use_threads=False)
        scored = score_batch(scorer, table, keep, batch_size)
        pq.write_table(scored, out / path.name)
        rows += scored.num_rows
    return rows


def baseline_child(args: argparse.Namespace) -> int:
    """Runs in its own process, one thread everywhere; prints its result as JSON."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    keep = [c for c in args.keep.split(",") if c]
    out = Path(args.out)
    baseline_once(args.model, args.warmup_data, out, args.batch_size, keep)  # warm-up
    times, rows = [], 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        rows = baseline_once(args.model, args.data, out, args.batch_size, keep)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"rows": rows, "times": times, "peak_rss_mib": peak_rss_mib()}))
    return 0


def run_baseline(
    args: argparse.Namespace, model_dir: Path, data: Path, warmup: Path, out: Path
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        BASELINE_FLAG,
        "--model", str(model_dir),
        "--data", str(data),
        "--warmup-data", str(warmup),
        "--out", str(out),
        "--batch-size", str(args.batch_size),
        "--runs", str(args.runs),
        "--keep", args.keep,
    ]  # fmt: skip
    env = {**os.environ, **SINGLE_THREAD_ENV}
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- (a) Ray Data


def run_ray(
    args: argparse.Namespace, model_dir: Path, data: Path, warmup: Path, out: Path
) -> dict[str, Any]:
    import ray

    from ray_jobs import batch_score

    cores = os.cpu_count() or 1
    # address="local": always a fresh in-process cluster, never a head someone else started.
    ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False)
    actors = args.actors or cores
    keep = [c for c in args.keep.split(",") if c]

    def once(source: Path) -> dict[str, Any]:
        return batch_score.score(
            model_dir, source, out, batch_size=args.batch_size, actors=actors,
            keep_columns=keep, progress=False,
        )  # fmt: skip

    def timed(source: Path) -> float:
        t0 = time.perf_counter()
        once(source)
        return time.perf_counter() - t0

    # This process and its children (the Ray processes). Shared object-store pages count once
    # per process that maps them, so the sum over-counts.
    sampler = RssSampler(os.getpid(), max_seconds=3600).start()
    try:
        log(f"ray warm-up run (one file, {args.batch_size:,} rows): {timed(warmup):.1f} s")
        # Fixed cost of a job: the same pipeline over one batch (actor start, model load,
        # one batch scored and written, teardown).
        fixed = [timed(warmup) for _ in range(args.runs)]
        log(f"ray fixed overhead: {[round(t, 2) for t in fixed]} s")
        times, rows = [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            manifest = once(data)
            times.append(time.perf_counter() - t0)
            rows = manifest["output"]["rows"]
    finally:
        sampler.stop()
        ray.shutdown()
    return {
        "rows": rows,
        "times": times,
        "fixed_times": fixed,
        "actors": actors,
        "peak_rss_mib": sampler.peak / 2**20,
    }


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--files", type=int, default=12, help="Parquet files in the input")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--hidden", type=int, default=256, help="MLP width (train's default is 64)")
    parser.add_argument("--actors", type=int, default=0, help="default: one per core")
    parser.add_argument("--keep", default=sample_data.ID, help="id columns carried through")
    parser.add_argument("--model", type=Path, help="score with this model dir instead")
    parser.add_argument("--data", type=Path, help="(baseline child) the input folder")
    parser.add_argument("--warmup-data", type=Path, help="(baseline child) the warm-up folder")
    parser.add_argument("--out", type=Path, help="(baseline child) the output folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(BASELINE_FLAG, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.baseline_child:
        return baseline_child(args)

    work = Path(tempfile.mkdtemp(prefix="opsbot-bench-score-"))
    try:
        data, model_dir = work / "input", args.model or work / "model"
        warmup = work / "warmup"
        t0 = time.perf_counter()
        make_data(data, args.rows, args.files, seed=3)
        make_data(warmup, args.batch_size, 1, seed=4)
        if args.model is None:
            make_model(model_dir, data, args.hidden)
        log(f"{args.rows:,} rows in {args.files} files ready in {time.perf_counter() - t0:.1f} s")
        meta = fraud_model.metadata(model_dir)
        hidden, n_features = int(meta["hidden"]), len(meta["features"])

        base = run_baseline(args, model_dir, data, warmup, work / "out-baseline")
        base["load"] = os.getloadavg()[0]
        log(f"baseline: {[round(t, 2) for t in base['times']]} s, load average {base['load']:.1f}")
        ray_result = run_ray(args, model_dir, data, warmup, work / "out-ray")
        ray_result["load"] = os.getloadavg()[0]
        log(f"ray: {[round(t, 2) for t in ray_result['times']]} s, load {ray_result['load']:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    assert base["rows"] == ray_result["rows"] == args.rows, (base["rows"], ray_result["rows"])
    base_rate = args.rows / statistics.median(base["times"])
    ray_rate = args.rows / statistics.median(ray_result["times"])
    ratio = ray_rate / base_rate
    fixed_s = statistics.median(ray_result["fixed_times"])
    ray_time = statistics.median(ray_result["times"])
    # Rows/s once running: the full run less the fixed cost of a one-batch run.
    ray_steady = args.rows / max(ray_time - fixed_s, 1e-9)
    figures = {
        "rows": args.rows,
        "files": args.files,
        "batch_size": args.batch_size,
        "hidden": hidden,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "actors": ray_result["actors"],
        "baseline_rows_per_s": round(base_rate),
        "ray_rows_per_s": round(ray_rate),
        "ratio": round(ratio, 2),
        "ray_fixed_overhead_s": round(fixed_s, 3),
        "ray_steady_rows_per_s": round(ray_steady),
        "ray_fixed_times_s": [round(t, 3) for t in ray_result["fixed_times"]],
        "baseline_times_s": [round(t, 3) for t in base["times"]],
        "ray_times_s": [round(t, 3) for t in ray_result["times"]],
        "baseline_peak_rss_mib": round(base["peak_rss_mib"]),
        "ray_peak_rss_mib_sum": round(ray_result["peak_rss_mib"]),
        "load_average_1m_after": {"baseline": base["load"], "ray": ray_result["load"]},
    }
    verdict = "PASS" if ratio >= TARGET_RATIO else "SHORT"
    print(f"machine            {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"rows / batch size  {args.rows:,} in {args.files} files / {args.batch_size:,}")
    print(
        f"model              MLP {n_features} -> {hidden} -> {max(hidden // 2, 1)} -> 1 "
        f"(the same for both sides)"
    )
    runs = f"median of {args.runs}"
    print(
        f"baseline (1 thread) {base_rate:>12,.0f} rows/s  {runs}, "
        f"peak RSS {base['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"ray ({ray_result['actors']} actors)      {ray_rate:>12,.0f} rows/s  {runs}, "
        f"peak RSS (sum over Ray processes) {ray_result['peak_rss_mib']:.0f} MiB"
    )
    print(f"ratio              {ratio:.2f}x  (target {TARGET_RATIO}x: {verdict})  end to end")
    print(
        f"ray fixed overhead {fixed_s:>12.2f} s       score() of one {args.batch_size:,}-row file "
        f"(actor start, model load, first batch, write, teardown), median of {args.runs}"
    )
    print(
        f"ray once running   {ray_steady:>12,.0f} rows/s  (full run less the fixed overhead: "
        f"{ray_steady / base_rate:.2f}x the baseline)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
