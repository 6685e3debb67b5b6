"""A Ray training job launched from Slack on a fleet of two real replicas on PostgreSQL, with a
real local Ray head: the replica following it is killed with ``kill -9`` while it runs. The
other replica follows it to its end: submitted once on the cluster, reported once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.clients.ray import RayJobsClient
from bot.store.engine import make_engine
from bot.store.job_models import JobRun, JobStatus
from ray_jobs.sample_data import generate, write
from tests.fakes.slack.api import SlackEmulator
from tests.ray.harness import CATALOG
from tests.support.fleet import CHANNEL, Replicas, fleet_env, wait_for
from tests.support.ray_head import RayHead
from tests.support.slack_requests import SIGNING_SECRET, signed_headers, slash_command

ONCALL = "U0ONCALL"  # who slash_command() types as


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


def job_rows(db_url: str) -> list[JobRun]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(JobRun)).all())
    finally:
        engine.dispose()


def test_a_job_whose_follower_dies_is_followed_to_its_end_and_reported_once(
    postgres_url: str, slack: SlackEmulator, ray_head: RayHead, tmp_path: Path
) -> None:
    data, artifacts = tmp_path / "data", tmp_path / "artifacts"
    data.mkdir()
    write(generate(3000, seed=5), data / "fraud.parquet")
    catalog = CATALOG.format(
        data=data, artifacts=artifacts, start_deadline_min=5, ml=ONCALL, sre="U0SRE"
    )
    (tmp_path / "services.yaml").write_text(catalog)
    env = fleet_env(
        postgres_url,
        slack,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        OPSBOT_SERVICES_FILE=str(tmp_path / "services.yaml"),
        RAY_ADDRESS=ray_head.address,
    )
    replicas = Replicas(env, tmp_path)
    try:
        a, _ = replicas.start(), replicas.start()
        body = slash_command("train fraud-scorer epochs=3", slack.response_url("train"))
        httpx.post(f"{a.url}/slack/events", content=body, headers=signed_headers(body))
        wait_for(lambda: len(slack.responses("train")) == 1, 30, "the answer to /ops train")
        assert "Submitted" in slack.responses("train")[0]["text"]
        wait_for(
            lambda: [j.status for j in job_rows(postgres_url)] == [JobStatus.RUNNING],
            120,
            "the job to run",
            every=0.2,
        )
        follower = replicas.wait_leader("jobs")
        follower.kill()
        wait_for(
            lambda: job_rows(postgres_url)[0].status in JobStatus.FINAL,
            180,
            "the survivor to follow the job to its end",
            every=0.5,
        )
        [job] = job_rows(postgres_url)
        assert job.status == JobStatus.SUCCEEDED, (job.message, job.log_tail)
        wait_for(
            lambda: any("succeeded" in m["text"] for m in slack.messages(CHANNEL)),
            30,
            "the report in Slack",
        )
    finally:
        replicas.stop_all()
    on_cluster = [j for j in RayJobsClient(ray_head.address).jobs()]
    assert [j.submission_id for j in on_cluster].count(job.submission_id) == 1
    reports = [
        m
        for m in slack.messages(CHANNEL)
        if m["thread_ts"] and m["ts"] != m["thread_ts"] and "succeeded" in m["text"]
    ]
    assert len(reports) == 1, "reported once"
