"""Score a Parquet table with a trained model on Ray Data, one model per actor.

    python -m ray_jobs.batch_score --model /models/fraud-1 --input /data/tx.parquet \\
        --out /scores/2026-11-27 --keep-columns transaction_id

``read_parquet`` → ``map_batches(BatchScorer)`` on an actor pool (the model is loaded once per
actor) → ``write_parquet(<out>/predictions)``. When the input has at least one file per actor,
Ray Data fuses the read into the actors: each actor task reads one file, scores it in
``--batch-size`` slices (Arrow columns straight into one float32 matrix, no pandas) and hands
only the id columns and ``score`` to the write tasks. Each output row carries the id columns
(``--keep-columns``; by default the input's ``id`` / ``*_id`` columns) and ``score``, the fraud
probability. With no id column at all, order is preserved: row i of the predictions (files in
name order) is row i of the input. While it runs, the driver prints a ``{"opsbot": "progress"}``
line about once a second (rows done, from a counter actor the scorers add to); at the end it
checks that there is exactly one prediction per input row and writes ``<out>/manifest.json``.
"""

from __future__ import annotations

import argparse
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
import torch

from ray_jobs import model as fraud_model
from ray_jobs import protocol
from ray_jobs.artifacts import (
    InputError,
    cluster_resource,
    fail,
    now,
    table_files,
    write_manifest,
)

PREDICTIONS = "predictions"
SCORE = "score"
DEFAULT_BATCH_SIZE = 65_536
# Logical CPUs an actor reserves. With a whole CPU each, a pool of one actor per CPU leaves no
# slot for the read and write tasks and the pipeline never starts. The actors are single-threaded
# and the reads and writes are short, so they share the cores. The read asks for the same
# resources as the actors, so that Ray Data can fuse it into them.
ACTOR_CPUS = 0.5
# Logical CPUs a write task reserves. It writes the id columns and the score of one block (a few
# MB); at a whole CPU each, Ray Data's resource budget let one write run at a time, only once
# the reads had finished.
WRITE_CPUS = 0.25


@ray.remote(num_cpus=0)
class RowCounter:
    """Rows scored so far, added to by the scorer actors after each batch."""

    def __init__(self) -> None:
        self.rows = 0

    def add(self, rows: int) -> None:
        self.rows += rows

    def get(self) -> int:
        return self.rows


def feature_matrix(table: pa.Table, features: list[str]) -> npt.NDArray[np.float32]:
    """The ``features`` columns of ``table`` as one C-order float32 matrix (nulls → NaN)."""
    matrix = np.empty((table.num_rows, len(features)), dtype=np.float32)
    for i, name in enumerate(features):
        matrix[:, i] = table.column(name).to_numpy()
    return matrix


def score_batch(
    scorer: fraud_model.Scorer,
    batch: pa.Table | pa.RecordBatch,
    keep_columns: list[str],
    batch_size: int | None = None,
) -> pa.Table:
    """The id columns of ``batch`` and a ``score`` column, one row per input row, in order. The
    model sees at most ``batch_size`` rows per call (all of them when None)."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    step = batch_size or max(table.num_rows, 1)
    scores = [
        scorer.predict(feature_matrix(table.slice(start, step), scorer.features))
        for start in range(0, table.num_rows, step)
    ]
    score = np.concatenate(scores) if scores else np.empty(0, dtype=np.float32)
    return pa.table({**{c: table.column(c) for c in keep_columns}, SCORE: score})


class BatchScorer:
    """A Ray Data actor: loads the model once, then scores Arrow blocks in ``batch_size``
    slices."""

    def __init__(
        self,
        model_dir: str,
        keep_columns: list[str],
        counter: Any,
        use_gpu: bool,
        batch_size: int | None = None,
    ) -> None:
        if not use_gpu:
            torch.set_num_threads(1)
        self.scorer = fraud_model.load(model_dir, "cuda" if use_gpu else "cpu")
        self.keep_columns = keep_columns
        self.counter = counter
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = score_batch(self.scorer, batch, self.keep_columns, self.batch_size)
        self.counter.add.remote(out.num_rows)
        return out


def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of a file or folder."""
    return [f for f in table_files(path) if f.suffix == ".parquet" or Path(path).is_file()]


def parquet_rows(path: str | Path) -> int:
    """Rows in a Parquet file or folder, from the files' metadata."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(path))


def input_columns(path: str | Path) -> list[str]:
    files = parquet_files(path)
    if not files:
        raise InputError(f"no .parquet files in {path}")
    try:
        return [str(n) for n in pq.read_schema(files[0]).names]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {files[0]}: {exc}") from exc


class ProgressReporter(threading.Thread):
    """Polls the counter about once a second and prints monotone progress lines."""

    def __init__(self, counter: Any, total: int, interval_s: float = 1.0) -> None:
        super().__init__(name="opsbot-progress", daemon=True)
        self.counter, self.total, self.interval_s = counter, total, interval_s
        self.done = 0
        self.started = time.perf_counter()
        self.stopping = threading.Event()

    def emit(self, rows: int) -> None:
        self.done = max(self.done, min(rows, self.total))
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = round(self.done / elapsed, 1)
        protocol.emit_progress(self.done, self.total, "rows", {"rows_per_s": rate})

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                rows = int(ray.get(self.counter.get.remote(), timeout=5))
            except ray.exceptions.GetTimeoutError:
                continue
            # Nothing until a batch is scored: the first line means the actors got their
            # resources (opsbot stops a job with no progress line at its start deadline).
            if rows > 0:
                self.emit(rows)

    def stop(self, final_rows: int) -> None:
        self.stopping.set()
        self.join()
        self.emit(final_rows)


def default_actors(gpus_per_actor: float) -> int:
    if gpus_per_actor > 0:
        return max(1, int(cluster_resource("GPU") // gpus_per_actor))
    return max(1, int(cluster_resource("CPU")))


def score(
    model_dir: str | Path,
    input_path: str | Path,
    out_dir: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    actors: int | None = None,
    gpus_per_actor: float = 0.0,
    keep_columns: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``input_path`` into ``<out_dir>/predictions``; returns the manifest (also written to
    ``<out_dir>/manifest.json`` and printed). Needs ``ray.init()`` done. Raises InputError on bad
    input, RuntimeError when the predictions do not have one row per input row."""
    started_at, t0 = now(), time.perf_counter()
    model_dir, input_path, out_dir = (Path(p).resolve() for p in (model_dir, input_path, out_dir))
    if (
        not (model_dir / fraud_model.META).is_file()
        or not (model_dir / fraud_model.WEIGHTS).is_file()
    ):
        raise InputError(f"no model in {model_dir} (model.json and model.pt)")
    features: list[str] = fraud_model.metadata(model_dir)["features"]
    columns = input_columns(input_path)
    if keep_columns is None:
        keep_columns = [c for c in columns if c == "id" or c.endswith("_id")]
    missing = [c for c in [*features, *keep_columns] if c not in columns]
    if missing:
        raise InputError(f"columns not in {input_path}: {', '.join(missing)}")
    rows_total = parquet_rows(input_path)
    files = len(parquet_files(input_path))
    actors = actors or default_actors(gpus_per_actor)
    # One read per file and at least one file per actor: the reads fuse into the actor tasks
    # (same resources, no block splitting, no minimum batch size), so the feature columns never
    # go through the object store. With fewer files than actors (or GPU actors), the reads stay
    # separate tasks whose blocks are split and spread over the actors in ``batch_size`` bundles.
    fuse_read = gpus_per_actor == 0 and files >= actors
    predictions = out_dir / PREDICTIONS
    shutil.rmtree(predictions, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    prepare_s = time.perf_counter() - t0

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # The V2 Parquet reader starts a pool of footer-reader actors (32) on every read; on a
    # small cluster that start-up costs seconds per run. V1 lists and reads with tasks.
    ctx.use_datasource_v2 = False
    ctx.execution_options.preserve_order = not keep_columns
    counter = RowCounter.remote()  # type: ignore[attr-defined]
    reporter = ProgressReporter(counter, rows_total)
    t1 = time.perf_counter()
    if progress:
        reporter.start()
    try:
        ds = ray.data.read_parquet(
            str(input_path),
            columns=list(dict.fromkeys([*keep_columns, *features])),
            num_cpus=ACTOR_CPUS,
            override_num_blocks=files if fuse_read else None,
        )
        scored = ds.map_batches(
            BatchScorer,
            fn_constructor_kwargs={
                "model_dir": str(model_dir),
                "keep_columns": keep_columns,
                "counter": counter,
                "use_gpu": gpus_per_actor > 0,
                "batch_size": batch_size,
            },
            batch_format="pyarrow",
            zero_copy_batch=True,
            # A batch size would stop the fusion (Ray Data then re-bundles the read's blocks
            # between processes); the actor slices each block into ``batch_size`` rows itself.
            batch_size=None if fuse_read else batch_size,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=ACTOR_CPUS,
            num_gpus=gpus_per_actor,
            udf_modifying_row_count=False,
        )
        scored.write_parquet(str(predictions), ray_remote_args={"num_cpus": WRITE_CPUS})
    finally:
        score_s = time.perf_counter() - t1
        if progress:
            reporter.stop(int(ray.get(counter.get.remote())))
        ray.kill(counter)

    t2 = time.perf_counter()
    rows_out = parquet_rows(predictions) if predictions.exists() else 0
    if rows_out != rows_total:
        raise RuntimeError(f"{rows_out} predictions for {rows_total} input rows")
    verify_s = time.perf_counter() - t2
    manifest = {
        "kind": "score",
        "model_dir": str(model_dir),
        "model_version": fraud_model.model_version(model_dir),
        "input": {"path": str(input_path), "rows": rows_total},
        "output": {"path": str(predictions), "rows": rows_out, "columns": [*keep_columns, SCORE]},
        "rows_per_s": round(rows_total / score_s, 1),
        "timings": {
            "prepare_s": round(prepare_s, 3),
            "score_s": round(score_s, 3),
            "verify_s": round(verify_s, 3),
            "total_s": round(time.perf_counter() - t0, 3),
        },
        "batch_size": batch_size,
        "actors": actors,
        "gpus_per_actor": gpus_per_actor,
        "started_at": started_at,
        "finished_at": now(),
    }
    write_manifest(out_dir, manifest)
    return manifest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ray_jobs.batch_score", description=__doc__)
    parser.add_argument("--model", required=True, help="a model directory (ray_jobs.train --out)")
    parser.add_argument("--input", required=True, help="a Parquet file or folder")
    parser.add_argument("--out", required=True, help="where predictions/ and manifest.json go")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--actors", type=int, default=None, help="default: the cluster's CPUs (or GPUs)"
    )
    parser.add_argument("--gpus-per-actor", type=float, default=0.0)
    parser.add_argument(
        "--keep-columns", default=None, help="comma-separated id columns to carry through"
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.actors is not None and args.actors < 1:
        parser.error("--actors must be at least 1")
    if args.gpus_per_actor < 0:
        parser.error("--gpus-per-actor must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep = None
    if args.keep_columns is not None:
        keep = [c.strip() for c in args.keep_columns.split(",") if c.strip()]
    ray.init(ignore_reinit_error=True)
    try:
        score(
            args.model,
            args.input,
            args.out,
            batch_size=args.batch_size,
            actors=args.actors,
            gpus_per_actor=args.gpus_per_actor,
            keep_columns=keep,
        )
    except InputError as exc:
        return fail(str(exc))
    except RuntimeError as exc:
        return fail(str(exc), 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
