"""Ray jobs from chat, end to end against a real local Ray head (job API on 127.0.0.1).

Commands go in as a person types them; the tracker follows the real jobs; the job messages go
through the outbox into the Slack emulator. The head is shared by the session (``ray_head``);
each test has its own database.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import Session, col, select

from actions.base import ActionContext
from actions.ray_job_actions import SubmitParams, SubmitRayJob
from bot.audit.log import AuditEntry
from bot.clients.ray import RayJobsClient
from bot.jobs.ledger import JobLedger
from bot.store.job_models import JobStatus
from bot.store.models import OutboxKind
from ray_jobs.sample_data import generate, write
from tests.fakes.slack.api import SlackEmulator
from tests.ray.harness import CHANNEL, ML, SRE, JobsBot, job_catalog, job_id_of, new_engine
from tests.support.ray_head import RayHead


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("jobs-data")
    write(generate(3000, seed=11), folder / "fraud.parquet")
    return folder


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


def make_bot(
    tmp: Path, head: RayHead, slack: SlackEmulator, data: Path, start_deadline_min: float = 5
) -> JobsBot:
    catalog = job_catalog(data, tmp / "artifacts", start_deadline_min)
    return JobsBot(new_engine(tmp / "opsbot.db"), catalog, RayJobsClient(head.address), slack)


@pytest.fixture
def bot(tmp_path: Path, ray_head: RayHead, slack: SlackEmulator, data_dir: Path) -> JobsBot:
    return make_bot(tmp_path, ray_head, slack, data_dir)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, ray_head: RayHead, data_dir: Path
) -> Iterator[tuple[JobsBot, int, SlackEmulator]]:
    """One training job, launched by a person and followed to its end."""
    with SlackEmulator(channels=(CHANNEL,)) as slack:
        bot = make_bot(tmp_path_factory.mktemp("trained"), ray_head, slack, data_dir)
        reply = bot.command("train fraud-scorer epochs=4")
        assert reply.public, reply.text
        job_id = job_id_of(reply)
        asyncio.run(bot.to_the_end(job_id))
        yield bot, job_id, slack


def test_training_runs_to_succeeded_on_cpu_and_its_manifest_is_read_back(
    trained: tuple[JobsBot, int, SlackEmulator],
) -> None:
    bot, job_id, slack = trained
    job = bot.job(job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.log_tail)
    manifest = job.manifest
    assert manifest["kind"] == "train"
    on_disk = json.loads((Path(manifest["model_dir"]) / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["dataset"]["rows"] == 3000
    assert manifest["params"]["epochs"] == 4
    assert manifest["use_gpu"] is False
    assert 0.5 < manifest["metrics"]["val_auc"] <= 1.0
    # The job's message: posted once, edited in place, ending on the result; one final reply.
    [message] = [m for m in slack.roots(CHANNEL) if m["ts"] == job.message_ts]
    assert message["edits"] >= 2
    assert "succeeded" in message["text"].lower()
    [done] = slack.replies(CHANNEL, message["ts"])
    assert "succeeded" in done["text"].lower()
    assert len(bot.done_replies()) == 1


def test_progress_lines_become_edits_of_the_one_message(
    trained: tuple[JobsBot, int, SlackEmulator],
) -> None:
    bot, job_id, slack = trained
    job = bot.job(job_id)
    assert job.progress["done"] == 4
    assert job.progress["total"] == 4
    assert job.progress["unit"] == "epoch"
    # Every distinct state the message showed while the job ran, in order.
    shown = [t for t in bot.seen if "epoch" in t]
    assert len(shown) >= 2, bot.seen
    # Part-way (1, 2 or 3 of 4 epochs) while it ran, then all 4.
    assert any(re.search(r"\*[123]/4\* epoch", t) for t in shown), shown
    assert any("*4/4* epoch" in t for t in shown), shown
    assert len(slack.roots(CHANNEL)) == 1


def test_scoring_writes_one_prediction_per_input_row(
    trained: tuple[JobsBot, int, SlackEmulator], data_dir: Path
) -> None:
    bot, train_id, _ = trained
    model_dir = bot.job(train_id).manifest["model_dir"]
    bot.restart()  # a sender of this test's own event loop
    reply = bot.command(f"score fraud-scorer model={model_dir}")
    job_id = job_id_of(reply)
    job = asyncio.run(bot.to_the_end(job_id))
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.log_tail)
    manifest = job.manifest
    assert manifest["kind"] == "score"
    predictions = pd.read_parquet(manifest["output"]["path"])
    assert len(predictions) == len(pd.read_parquet(data_dir / "fraud.parquet")) == 3000
    assert predictions["score"].between(0, 1).all()
    assert manifest["output"]["rows"] == 3000
    assert manifest["model_version"] == bot.job(train_id).manifest["model_version"]


async def test_stop_stops_a_running_job_and_says_who(bot: JobsBot) -> None:
    job_id = job_id_of(bot.command("train fraud-scorer epochs=2000"))
    await bot.follow(job_id, lambda j: bool(j.progress), timeout_s=120)
    reply = bot.command(f"stop {job_id}", user=ML)
    assert reply.ok, reply.text
    job = await bot.to_the_end(job_id, timeout_s=60)
    assert job.status == JobStatus.STOPPED
    assert job.message == f"stopped by <@{ML}>"
    on_ray = bot.ray.job(job.submission_id)
    assert on_ray is not None
    assert on_ray.status == "STOPPED"
    assert len(bot.done_replies()) == 1
    # Stopping it again changes nothing and says so.
    again = bot.command(f"stop {job_id}", user=ML)
    assert "already stopped" in again.text


async def test_a_failing_job_posts_its_log_tail(bot: JobsBot, data_dir: Path) -> None:
    reply = bot.command(f"train fraud-scorer dataset={data_dir}/missing.parquet")
    job = await bot.to_the_end(job_id_of(reply))
    assert job.status == JobStatus.FAILED
    assert job.log_tail
    assert "missing.parquet" in job.log_tail
    [message] = [m for m in bot.slack.roots(CHANNEL) if m["ts"] == job.message_ts]
    shown = json.dumps(message["blocks"])
    assert "missing.parquet" in shown
    [done] = bot.slack.replies(CHANNEL, message["ts"])
    assert "failed" in done["text"].lower()


def test_a_retried_submit_adopts_the_job_it_started(bot: JobsBot) -> None:
    action = SubmitRayJob()
    params = SubmitParams(kind="train", template="fraud-scorer", values={"epochs": 1})
    ctx = ActionContext(
        actor=ML,
        key="submit_ray_job:retry-test",
        catalog=bot.catalog,
        ray=bot.ray,
        jobs=JobLedger(bot.engine),
    )
    plan = action.plan(ctx, params)
    first = action.apply(ctx, params, plan)
    second = action.apply(ctx, params, plan)  # a crash after the submit, then a resume
    assert first.data["adopted"] is False
    assert second.data["adopted"] is True
    assert first.data["submission_id"] == second.data["submission_id"]
    on_cluster = [j for j in bot.ray.jobs() if j.submission_id == first.data["submission_id"]]
    assert len(on_cluster) == 1
    assert len(bot.jobs()) == 1


def test_a_gpu_request_on_this_cpu_only_cluster_is_refused_at_once(bot: JobsBot) -> None:
    before = {j.submission_id for j in bot.ray.jobs()}
    started = time.monotonic()
    reply = bot.command("train fraud-scorer gpus=1")
    assert time.monotonic() - started < 10
    assert not reply.ok
    assert "no GPUs" in reply.text
    assert "gpus=0" in reply.text
    assert bot.jobs() == []
    assert {j.submission_id for j in bot.ray.jobs()} == before  # nothing reached the cluster


async def test_a_waiting_gpu_job_needs_approval_and_is_stopped_at_its_start_deadline(
    tmp_path: Path, ray_head: RayHead, slack: SlackEmulator, data_dir: Path
) -> None:
    bot = make_bot(tmp_path, ray_head, slack, data_dir, start_deadline_min=0.1)
    asked = bot.command("train fraud-scorer gpus=1 wait=true")
    assert "approval" in asked.text.lower(), asked.text
    assert "estimated cost" in json.dumps(asked.blocks)
    token = asked.text.split("approve ")[-1].strip() if "approve " in asked.text else None
    if token is None:  # Slack: the token is on the button
        token = next(
            e["value"]
            for b in asked.blocks
            if b["type"] == "actions"
            for e in b["elements"]
            if e.get("action_id") == "opsbot_approve"
        )
    approved = bot.command(f"approve {token}", user=SRE)
    assert approved.ok, approved.text
    [job] = bot.jobs()
    assert job.id is not None
    job = await bot.to_the_end(job.id, timeout_s=90)
    assert job.status == JobStatus.STOPPED
    assert job.message is not None
    assert "not started within its start deadline" in job.message
    assert "1 GPU, the cluster has 0" in job.message
    with Session(bot.engine) as s:
        events = s.exec(select(AuditEntry.event).order_by(col(AuditEntry.id))).all()
    assert "job_stopped" in events


async def test_a_restarted_bot_reattaches_and_posts_the_outcome_once(bot: JobsBot) -> None:
    job_id = job_id_of(bot.command("train fraud-scorer epochs=10"))
    await bot.follow(job_id, lambda j: j.status == JobStatus.RUNNING, timeout_s=90)
    old_tracker = bot.tracker
    bot.restart()  # the process died; a new one starts from the database
    job = await bot.to_the_end(job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.log_tail)
    old_tracker.poll_once()  # the old process's last pass, late: nothing more is posted
    await bot.step()
    assert len(bot.done_replies()) == 1
    assert len(bot.outbox(OutboxKind.JOB_POST)) == 1
    [message] = [m for m in bot.slack.roots(CHANNEL) if m["ts"] == job.message_ts]
    assert len(bot.slack.replies(CHANNEL, message["ts"])) == 1


@pytest.mark.parametrize(
    "hostile",
    [
        "dataset=/x;reboot",
        "dataset=$(id)",
        "epochs=3;rm",
        "epochs=9999999",
        "entrypoint=sh",
        "hidden=-1",
    ],
)
def test_injection_and_out_of_bounds_values_are_refused_before_anything_runs(
    bot: JobsBot, hostile: str
) -> None:
    reply = bot.command(f"train fraud-scorer {hostile}")
    assert not reply.ok
    assert reply.text.startswith("Refused") or "Refused" in reply.text, reply.text
    assert bot.jobs() == []


def test_jobs_and_job_show_status_progress_and_result_at_the_console(
    trained: tuple[JobsBot, int, SlackEmulator],
) -> None:
    bot, job_id, _ = trained
    listing = bot.command("jobs", channel=None)
    assert f"#{job_id} [succeeded 100%] train fraud-scorer" in listing.text
    assert "Templates: train/fraud-scorer, score/fraud-scorer" in listing.text
    one = bot.command(f"job {job_id}", channel=None)
    assert "on Ray: SUCCEEDED" in one.text
    assert "model_version" in one.text
    assert "val_auc" in one.text
    assert "log tail:" in one.text
    unknown = bot.command("job 999", channel=None)
    assert not unknown.ok
    assert "No job `999`" in unknown.text


def test_a_dry_run_shows_the_plan_and_starts_nothing(bot: JobsBot) -> None:
    before = {j.submission_id for j in bot.ray.jobs()}
    reply = bot.command("train fraud-scorer epochs=7 --dry-run")
    assert reply.ok
    assert "Dry run, nothing changed" in reply.text
    shown = json.dumps(reply.blocks)
    assert "python -m ray_jobs.train" in shown
    assert "--epochs 7" in shown
    assert "1 CPU" in shown
    assert bot.jobs() == []
    assert {j.submission_id for j in bot.ray.jobs()} == before


def test_a_job_the_cluster_no_longer_has_is_reported_failed_once(bot: JobsBot) -> None:
    from datetime import timedelta

    from bot.jobs.ledger import NewJob
    from bot.jobs.templates import resolve
    from bot.store.types import utcnow

    template = bot.catalog.jobs.get("train", "fraud-scorer")
    assert template is not None
    ledger = JobLedger(bot.engine, clock=lambda: utcnow() - timedelta(minutes=10))
    job = ledger.record(
        NewJob(
            template,
            resolve(template, {}),
            "opsbot-train-gone-1",
            "python -m x",
            ML,
            channel=CHANNEL,
        )
    )
    assert job.id is not None
    ledger.change(job.id, status=JobStatus.RUNNING)
    assert bot.tracker.poll_once() == 1
    assert bot.tracker.poll_once() == 0
    ended = bot.job(job.id)
    assert ended.status == JobStatus.FAILED
    assert ended.message == "no longer on the Ray cluster (was it restarted or replaced?)"
    assert len(bot.done_replies()) == 1
