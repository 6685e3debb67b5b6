"""An opsbot wired to a real Ray head: executor, job tracker, outbox → the Slack emulator.

What ``opsbot serve`` builds, minus HTTP: commands go in through ``run_command`` (the same call
the Slack listener and the console make), the tracker and the outbox sender are stepped by the
test, and every Slack write lands in the emulator through the real slack_sdk client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.load import parse_catalog
from bot.catalog.model import Catalog
from bot.chat.commands import CommandContext, Ops, Reply, run_command
from bot.clients.ray import RayJobsClient
from bot.clients.set import Clients
from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.jobs.ledger import JobLedger
from bot.jobs.tracker import JobTracker
from bot.metrics import Metrics
from bot.outbox.sender import OutboxSender
from bot.runner.execute import Executor
from bot.store.engine import make_engine
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import OutboxKind, OutboxMessage
from tests.fakes.slack.api import SlackEmulator

CHANNEL = "C0JOBS"
ML = "U0MLENG"  # may start CPU jobs and stop jobs; GPU jobs need SRE approval
SRE = "U0SRE"

CATALOG = """
jobs:
  train:
    fraud-scorer:
      entrypoint: train
      params:
        dataset: {{type: path, default: {data}/fraud.parquet, under: [{data}/]}}
        epochs: {{type: int, default: 2, min: 1, max: 2000}}
        hidden: {{type: int, default: 16, min: 4, max: 256}}
        lr: {{type: float, default: 0.01, min: 0.0001, max: 0.5}}
        batch_size: {{type: int, default: 128, min: 16, max: 4096}}
      resources: {{cpus: 1, gpus: 0, memory_gb: 0.5, max_cpus: 2, max_gpus: 2}}
      artifacts: {artifacts}
      start_deadline_min: {start_deadline_min}
      deadline_min: 30
      cost_per_gpu_hour: 3.0
  score:
    fraud-scorer:
      entrypoint: batch_score
      params:
        model: {{type: path, under: [{artifacts}/]}}
        input: {{type: path, default: {data}/fraud.parquet, under: [{data}/]}}
      resources: {{cpus: 2, gpus: 0, memory_gb: 0.5, max_cpus: 2, max_gpus: 1}}
      artifacts: {artifacts}
policy:
  groups:
    ml: [{ml}]
    sre: [{sre}]
  rules:
    - actions: [submit_ray_job]
      gpus: true
      run: ["@ml", "@sre"]
      approve: ["@sre"]
    - actions: [submit_ray_job, stop_ray_job]
      run: ["@ml", "@sre"]
      approval: none
"""


def job_catalog(data: Path, artifacts: Path, start_deadline_min: float = 5) -> Catalog:
    return parse_catalog(
        CATALOG.format(
            data=data,
            artifacts=artifacts,
            start_deadline_min=start_deadline_min,
            ml=ML,
            sre=SRE,
        )
    )


@dataclass
class JobsBot:
    engine: Engine
    catalog: Catalog
    ray: RayJobsClient
    slack: SlackEmulator
    executor: Executor = field(init=False)
    tracker: JobTracker = field(init=False)
    sender: OutboxSender = field(init=False)
    seen: list[str] = field(default_factory=list)  # every distinct rendering of messages seen

    def __post_init__(self) -> None:
        self.executor = Executor(self.engine, self.catalog, Clients(ray=self.ray))
        self.restart()

    def restart(self) -> None:
        """What a restarted opsbot builds: a new tracker and sender on the same database (all
        of a job's state is there, nothing is carried over in memory)."""
        metrics = Metrics()
        transport = SlackWebTransport(
            make_web_client("xoxb-test-token", self.slack.api_url, 2), metrics
        )
        self.sender = OutboxSender(
            self.engine, transport, metrics, channel_rate=50, channel_burst=50
        )
        self.tracker = JobTracker(JobLedger(self.engine), self.ray, poll_s=0.3, edit_every_s=0)

    def command(self, text: str, user: str = ML, channel: str | None = CHANNEL) -> Reply:
        ctx = CommandContext(
            engine=self.engine,
            user=user,
            channel=channel,
            catalog=self.catalog,
            ops=Ops(executor=self.executor),
        )
        return run_command(ctx, text)

    async def step(self) -> None:
        await anyio.to_thread.run_sync(self.tracker.poll_once)
        await self.sender.drain(deadline_s=10)
        for message in self.slack.messages(CHANNEL):
            shown = json.dumps(message["blocks"], ensure_ascii=False)
            if shown not in self.seen:
                self.seen.append(shown)

    async def follow(
        self, job_id: int, until: Callable[[JobRun], bool], timeout_s: float = 150
    ) -> JobRun:
        deadline = time.monotonic() + timeout_s
        while True:
            await self.step()
            job = self.job(job_id)
            if until(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job.status} after {timeout_s} s")
            await asyncio.sleep(0.3)

    async def to_the_end(self, job_id: int, timeout_s: float = 150) -> JobRun:
        job = await self.follow(job_id, lambda j: j.status in JobStatus.FINAL, timeout_s)
        for _ in range(3):  # the final edit and reply go out
            await self.step()
        return job

    def job(self, job_id: int) -> JobRun:
        found = JobLedger(self.engine).get(job_id)
        assert found is not None
        return found

    def jobs(self) -> list[JobRun]:
        with Session(self.engine) as s:
            return list(s.exec(select(JobRun).order_by(col(JobRun.id))).all())

    def outbox(self, kind: str) -> list[OutboxMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboxMessage).where(OutboxMessage.kind == kind)).all())

    def done_replies(self) -> list[OutboxMessage]:
        return self.outbox(OutboxKind.JOB_DONE)


def job_id_of(reply: Reply) -> int:
    """The job number in a submit's answer ("Submitted train job #3 `opsbot-…`")."""
    text = reply.text
    assert "Submitted" in text, text
    after = text.split("job #", 1)[1]
    return int(after.split()[0].strip("`"))


def new_engine(path: Path) -> Engine:
    from bot.store.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    return make_engine(url)


def messages_with(slack: SlackEmulator, needle: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(CHANNEL) if needle in m["text"]]
