"""The train and batch-score entrypoints as real Ray jobs on a local head (job API).

Nothing here calls ``ray.init()`` in-process: the jobs are submitted through
``JobSubmissionClient`` exactly as the bot submits them, and their logs are read back with
``ray_jobs.protocol`` exactly as the bot reads them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from ray_jobs import protocol, sample_data
from tests.support.ray_head import RayHead

JOB_TIMEOUT_S = 240.0
# Every job process (driver, Train controller and workers, Data actors) is a fresh Python that
# imports torch, pandas and pyarrow. Where PYTHONDONTWRITEBYTECODE is set and the venv holds no
# .pyc files, each one compiles them from source (seconds apiece): cache bytecode outside the venv.
RUNTIME_ENV = {
    "env_vars": {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": "/tmp/opsbot-pycache"}
}


@dataclass
class FinishedJob:
    status: JobStatus
    logs: str
    records: list[dict[str, Any]]


def run_job(client: JobSubmissionClient, entrypoint: str) -> FinishedJob:
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=RUNTIME_ENV)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    status = client.get_job_status(job_id)
    while not status.is_terminal() and time.monotonic() < deadline:
        time.sleep(0.5)
        status = client.get_job_status(job_id)
    logs = client.get_job_logs(job_id)
    if not status.is_terminal():
        client.stop_job(job_id)
    records = [r for r in map(protocol.parse_line, logs.splitlines()) if r is not None]
    return FinishedJob(status, logs, records)


@dataclass
class Trained:
    data: Path
    model: Path
    job: FinishedJob


@pytest.fixture(scope="module")
def client(ray_head: RayHead) -> JobSubmissionClient:
    return JobSubmissionClient(ray_head.address)


@pytest.fixture(scope="module")
def trained(client: JobSubmissionClient, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    work = tmp_path_factory.mktemp("ray_jobs")
    data = sample_data.write(sample_data.generate(4_000, seed=5), work / "data.parquet")
    model = work / "model"
    job = run_job(
        client,
        f"python -m ray_jobs.train --dataset {data} --out {model} --epochs 2 --workers 1 "
        "--batch-size 64 --lr 0.01 --hidden 16 --use-gpu auto",
    )
    return Trained(data, model, job)


def test_train_job_succeeds_and_its_log_carries_progress_and_the_manifest(
    trained: Trained,
) -> None:
    job = trained.job
    assert job.status == JobStatus.SUCCEEDED, job.logs[-3000:]

    progress = [r for r in job.records if r["opsbot"] == "progress"]
    # A line when the workers start (0 done), then one per epoch.
    assert [(r["done"], r["total"], r["unit"]) for r in progress] == [
        (0, 2, "epoch"),
        (1, 2, "epoch"),
        (2, 2, "epoch"),
    ]
    assert set(progress[-1]["metrics"]) == {"loss", "val_auc", "val_accuracy"}

    last, manifest_record = protocol.latest(job.logs)
    assert last == progress[-1]
    assert manifest_record is not None
    manifest_path = Path(manifest_record["path"])
    assert manifest_path == trained.model / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest_record["manifest"] == manifest

    assert manifest["kind"] == "train"
    assert manifest["dataset"]["rows"] == 4_000
    assert manifest["dataset"]["path"] == str(trained.data)
    assert len(manifest["dataset"]["sha256"]) == 64
    assert manifest["use_gpu"] is False
    assert manifest["device"] == "cpu"
    assert manifest["params"]["epochs"] == 2
    assert manifest["metrics"]["loss"] == pytest.approx(progress[-1]["metrics"]["loss"])
    assert manifest["metrics"]["val_auc"] > 0.6
    assert set(manifest["timings"]) == {"load_s", "train_s", "total_s"}
    assert (trained.model / "model.pt").is_file()
    assert manifest["model_version"] == manifest_record["manifest"]["model_version"]
    assert len(manifest["model_version"]) == 12
    assert len(manifest["code_version"]) == 12


def test_score_job_writes_one_prediction_per_input_row(
    client: JobSubmissionClient, trained: Trained, tmp_path: Path
) -> None:
    assert trained.job.status == JobStatus.SUCCEEDED
    rows = 3_000
    frame = sample_data.generate(rows, seed=9).drop(columns=[sample_data.LABEL])
    inputs = sample_data.write(frame, tmp_path / "in" / "part-0.parquet").parent
    out = tmp_path / "scores"

    job = run_job(
        client,
        f"python -m ray_jobs.batch_score --model {trained.model} --input {inputs} "
        f"--out {out} --batch-size 1000 --actors 2 --keep-columns {sample_data.ID}",
    )
    assert job.status == JobStatus.SUCCEEDED, job.logs[-3000:]

    predictions = pq.read_table(out / "predictions").to_pandas()
    assert len(predictions) == rows
    assert sorted(predictions[sample_data.ID]) == list(range(rows))
    assert predictions["score"].between(0.0, 1.0).all()

    progress, manifest_record = protocol.latest(job.logs)
    assert progress is not None
    assert (progress["done"], progress["total"], progress["unit"]) == (rows, rows, "rows")
    dones = [r["done"] for r in job.records if r["opsbot"] == "progress"]
    assert dones == sorted(dones)
    assert dones[0] > 0  # nothing is reported before the first batch is scored
    assert manifest_record is not None
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest_record["manifest"] == manifest
    assert manifest["kind"] == "score"
    assert manifest["input"]["rows"] == manifest["output"]["rows"] == rows
    assert (
        manifest["model_version"]
        == json.loads((trained.model / "manifest.json").read_text())["model_version"]
    )
