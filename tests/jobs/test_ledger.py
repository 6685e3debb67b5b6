"""The job ledger: a job started for an incident is on its timeline, and its end is recorded
(and posted) once, whoever tries again."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.load import parse_catalog
from bot.jobs.ledger import JobLedger, NewJob
from bot.jobs.templates import resolve
from bot.store.job_models import JobStatus
from bot.store.models import OutboxKind, OutboxMessage, TimelineEvent
from tests.support.payloads import am_alert, am_payload
from tests.support.store import CHANNEL, incidents, ingest

CATALOG = """
jobs:
  train:
    fraud-scorer:
      entrypoint: train
      params:
        epochs: {type: int, default: 3, min: 1, max: 10}
"""


def test_a_job_for_an_incident_is_on_its_timeline_and_ends_once(engine: Engine) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    [incident] = incidents(engine)
    assert incident.id is not None
    template = parse_catalog(CATALOG).jobs.get("train", "fraud-scorer")
    assert template is not None
    ledger = JobLedger(engine)
    job = ledger.record(
        NewJob(
            template,
            resolve(template, {"epochs": "2"}),
            "opsbot-train-fraud-scorer-t1",
            "python -m ray_jobs.train --epochs 2",
            "U0MLENG",
            incident_id=incident.id,
        )
    )
    assert job.id is not None
    assert job.channel == CHANNEL  # the incident's channel
    again = ledger.record(
        NewJob(template, resolve(template, {}), job.submission_id, "python -m x", "U0MLENG")
    )
    assert again.id == job.id  # a retried record finds the row

    ledger.request_stop(job.id, "U0SRE")
    assert ledger.finish(job.id, JobStatus.STOPPED, message="stopped by <@U0SRE>")
    assert not ledger.finish(job.id, JobStatus.FAILED, message="late")  # a second pass
    assert ledger.change(job.id, message="after the end") is None

    with Session(engine) as s:
        events = s.exec(
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id)
            .order_by(col(TimelineEvent.id))
        ).all()
        done = s.exec(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.JOB_DONE)).all()
    jobs = [e for e in events if e.kind.startswith("job_")]
    assert [e.kind for e in jobs] == ["job_submitted", "job_stopped"]
    assert jobs[0].actor == "U0MLENG"
    assert jobs[1].actor == "U0SRE"
    assert jobs[1].text == "train job #1 fraud-scorer stopped: stopped by <@U0SRE>"
    assert len(done) == 1
    final = ledger.get(job.id)
    assert final is not None
    assert final.status == JobStatus.STOPPED
    assert final.message == "stopped by <@U0SRE>"
