"""Train the fraud model with Ray Train (``TorchTrainer``) and write a model directory.

    python -m ray_jobs.train --dataset /data/fraud.parquet --out /models/fraud-1 --epochs 5

The driver checks the dataset first (exit 2 on bad input, before Ray starts), then each worker
reads the same file (on a multi-node cluster the path must be on shared storage, like
``--out``), splits it into train/validation by ``--seed``, and trains on its shard of the train
rows. Rank 0 prints a ``{"opsbot": "progress"}`` line per epoch and reports the final model as a
checkpoint; the driver copies it into ``--out`` and writes ``manifest.json``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import ray
import ray.train
import torch
from ray.train.torch import TorchTrainer

from ray_jobs import model as fraud_model
from ray_jobs import protocol
from ray_jobs.artifacts import (
    InputError,
    cluster_resource,
    code_version,
    fail,
    now,
    read_table,
    sha256_of,
    write_manifest,
)

DEFAULT_LABEL = "label"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ray_jobs.train", description=__doc__)
    parser.add_argument("--dataset", required=True, help="a Parquet file or folder, or a .csv")
    parser.add_argument("--out", required=True, help="the model directory to write")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--use-gpu", choices=["auto", "true", "false"], default="auto")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--label", default=DEFAULT_LABEL)
    parser.add_argument(
        "--features",
        default="",
        help="comma-separated feature columns; default: every column but the label and ids "
        "(`id`, `*_id`)",
    )
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "hidden", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 < args.val_fraction < 1.0:
        parser.error("--val-fraction must be between 0 and 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    return args


def check_dataset(df: pd.DataFrame, label: str, features: list[str]) -> list[str]:
    """The feature columns to train on; raises InputError on a table that cannot be used."""
    if label not in df.columns:
        raise InputError(f"no label column {label!r} (columns: {', '.join(map(str, df.columns))})")
    if not features:
        features = [
            str(c) for c in df.columns if c != label and c != "id" and not str(c).endswith("_id")
        ]
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise InputError(f"feature columns not in the dataset: {', '.join(missing)}")
    if not features:
        raise InputError("no feature columns")
    for column in features:
        series = df[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise InputError(f"feature {column!r} is not numeric (dtype {series.dtype})")
        if series.isna().any():
            raise InputError(f"feature {column!r} has missing values")
    labels = df[label]
    if labels.isna().any() or not set(pd.unique(labels)) <= {0, 1}:
        raise InputError(f"label {label!r} must be 0/1 with no missing values")
    if len(df) < 10:
        raise InputError(f"only {len(df)} rows")
    return features


def split(rows: int, val_fraction: float, seed: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Train and validation row indices, the same on every worker for a seed."""
    order = np.random.default_rng(seed).permutation(rows)
    n_val = max(1, round(rows * val_fraction))
    return order[n_val:], order[:n_val]


def train_loop(config: dict[str, Any]) -> None:
    """What each Ray Train worker runs."""
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(config["seed"])
    device = ray.train.torch.get_device()

    features: list[str] = config["features"]
    df = read_table(config["dataset"], columns=[*features, config["label"]])
    x_all = fraud_model.as_matrix(df, features)
    y_all = df[config["label"]].to_numpy(dtype=np.float32)
    train_idx, val_idx = split(len(df), config["val_fraction"], config["seed"])
    mean, std = fraud_model.standardisation(x_all[train_idx])
    # Equal shards: with DDP every worker must run the same number of steps.
    per_worker = len(train_idx) // world
    shard = train_idx[rank * per_worker : (rank + 1) * per_worker]
    x_train = torch.from_numpy(x_all[shard]).to(device)
    y_train = torch.from_numpy(y_all[shard]).to(device)
    x_val = torch.from_numpy(x_all[val_idx]).to(device)
    y_val = y_all[val_idx]

    hidden: int = config["hidden"]
    net = fraud_model.FraudMLP(len(features), hidden, mean, std)
    model = ray.train.torch.prepare_model(net)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
    batch_size: int = config["batch_size"]
    epochs: int = config["epochs"]
    generator = torch.Generator().manual_seed(config["seed"] + 1000 * rank)
    if rank == 0:
        # The workers got their resources and the data is loaded: the job has started (opsbot's
        # start deadline stops a job with no progress line, however long an epoch takes).
        protocol.emit_progress(0, epochs, "epoch")

    for epoch in range(epochs):
        model.train()
        order = torch.randperm(per_worker, generator=generator).to(device)
        total = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, rows
        for start in range(0, per_worker, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            (loss / len(batch)).backward()
            optimizer.step()
            total[0] += loss.detach()
            total[1] += len(batch)
        if world > 1:
            torch.distributed.all_reduce(total)
        metrics: dict[str, Any] = {"epoch": epoch + 1, "loss": float(total[0] / total[1])}
        checkpoint = None
        if rank == 0:
            plain = cast(fraud_model.FraudMLP, getattr(model, "module", model))
            plain.eval()
            with torch.inference_mode():
                probs = torch.sigmoid(plain(x_val)).cpu().numpy()
            metrics["val_auc"] = fraud_model.auc(y_val, probs)
            metrics["val_accuracy"] = float(((probs >= 0.5) == (y_val >= 0.5)).mean())
            metrics["device"] = str(device.type)
            protocol.emit_progress(
                epoch + 1,
                epochs,
                "epoch",
                {k: metrics[k] for k in ("loss", "val_auc", "val_accuracy")},
            )
            if epoch + 1 == epochs:
                tmp = tempfile.mkdtemp(prefix="opsbot-model-")
                fraud_model.save(tmp, plain, features, hidden, mean, std)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)
        if checkpoint is not None:
            shutil.rmtree(checkpoint.path, ignore_errors=True)


def want_gpu(flag: str) -> bool:
    if flag == "auto":
        return cluster_resource("GPU") > 0
    return flag == "true"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at, t0 = now(), time.perf_counter()
    out = Path(args.out).resolve()
    dataset = Path(args.dataset).resolve()
    requested = [f.strip() for f in args.features.split(",") if f.strip()]
    try:
        df = read_table(dataset)
        features = check_dataset(df, args.label, requested)
        fingerprint = {"path": str(dataset), "sha256": sha256_of(dataset), "rows": len(df)}
    except InputError as exc:
        return fail(str(exc))
    del df
    load_s = time.perf_counter() - t0

    ray.init(ignore_reinit_error=True)
    use_gpu = want_gpu(args.use_gpu)
    params = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "workers": args.workers,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "label": args.label,
        "features": features,
    }
    out.mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={**params, "dataset": str(dataset)},
        scaling_config=ray.train.ScalingConfig(num_workers=args.workers, use_gpu=use_gpu),
        run_config=ray.train.RunConfig(
            storage_path=str(out / "ray_train"),
            name=f"train-{time.strftime('%Y%m%d-%H%M%S')}",
        ),
    )
    t1 = time.perf_counter()
    try:
        result = trainer.fit()
    except Exception as exc:  # Ray wraps worker errors in TrainingFailedError
        return fail(f"training failed: {str(exc).splitlines()[0] if str(exc) else exc!r}", 1)
    train_s = time.perf_counter() - t1
    if result.checkpoint is None:
        return fail("training finished without a model checkpoint", 1)
    with result.checkpoint.as_directory() as ckpt:
        for name in (fraud_model.WEIGHTS, fraud_model.META):
            shutil.copyfile(Path(ckpt) / name, out / name)

    final = result.metrics or {}
    manifest = {
        "kind": "train",
        "dataset": fingerprint,
        "code_version": code_version(),
        "params": params,
        "metrics": {k: final.get(k) for k in ("loss", "val_auc", "val_accuracy")},
        "timings": {
            "load_s": round(load_s, 3),
            "train_s": round(train_s, 3),
            "total_s": round(time.perf_counter() - t0, 3),
        },
        "use_gpu": use_gpu,
        "device": final.get("device", "cuda" if use_gpu else "cpu"),
        "model_dir": str(out),
        "model_version": fraud_model.model_version(out),
        "started_at": started_at,
        "finished_at": now(),
    }
    write_manifest(out, manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
