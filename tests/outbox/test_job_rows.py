"""A Ray job's progress message through the real outbox sender, against the Slack emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.outbox.queue import enqueue_job_done, enqueue_job_post, enqueue_job_update
from bot.outbox.sender import OutboxSender
from bot.render.jobs import JOB_STOP_ACTION
from bot.store.engine import session_scope
from bot.store.job_models import JobRun, JobStatus
from bot.store.models import OutboxKind, OutboxMessage, OutboxStatus, table
from bot.store.types import utcnow
from tests.fakes.slack.api import SlackEmulator
from tests.support.payloads import am_alert, am_payload
from tests.support.store import CHANNEL, incidents, ingest

JOBS = "C0JOBS"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL, JOBS)) as emulator:
        yield emulator


def new_sender(engine: Engine, slack: SlackEmulator) -> OutboxSender:
    """A sender as a (re)started process gets it; the client gives up after 2 s."""
    transport = SlackWebTransport(make_web_client("xoxb-test-token", slack.api_url, 2))
    return OutboxSender(engine, transport, channel_rate=50, channel_burst=50)


@pytest.fixture
def sender(engine: Engine, slack: SlackEmulator) -> OutboxSender:
    return new_sender(engine, slack)


def add_job(
    engine: Engine,
    *,
    post: bool = True,
    channel: str | None = JOBS,
    thread_ts: str | None = None,
    incident_id: int | None = None,
    name: str = "fraud-scorer",
) -> int:
    """A submitted job, its progress message queued (what the ledger's ``record`` does)."""
    now = utcnow()
    with session_scope(engine) as s:
        job = JobRun(
            submission_id=f"opsbot-train-{name}-{now.timestamp()}",
            kind="train",
            template=name,
            entrypoint="python -m ray_jobs.train",
            requested_by="U0ALICE",
            resources={"cpus": 1, "gpus": 0, "memory_gb": 2},
            channel=channel,
            thread_ts=thread_ts,
            incident_id=incident_id,
            start_deadline_at=now + timedelta(minutes=5),
            deadline_at=now + timedelta(hours=1),
        )
        s.add(job)
        s.flush()
        if post:
            enqueue_job_post(s, job)
        assert job.id is not None
        return job.id


def change(engine: Engine, job_id: int, **fields: Any) -> None:
    """Change the job and ask for its message to be redrawn (the ledger's ``change``)."""
    with session_scope(engine) as s:
        job = s.get(JobRun, job_id)
        assert job is not None
        for key, value in fields.items():
            setattr(job, key, value)
        s.add(job)
        enqueue_job_update(s, job)


def finish(engine: Engine, job_id: int, status: str, **fields: Any) -> None:
    """The final edit and the one reply, in the transaction that ends the job."""
    with session_scope(engine) as s:
        job = s.get(JobRun, job_id)
        assert job is not None
        for key, value in {"status": status, "ended_at": utcnow(), **fields}.items():
            setattr(job, key, value)
        s.add(job)
        s.flush()
        enqueue_job_update(s, job)
        enqueue_job_done(s, job)


def post_progress(engine: Engine, job_id: int) -> None:
    with session_scope(engine) as s:
        job = s.get(JobRun, job_id)
        assert job is not None
        enqueue_job_post(s, job)


def job_row(engine: Engine, job_id: int) -> JobRun:
    with Session(engine) as s:
        job = s.get(JobRun, job_id)
        assert job is not None
        return job


def rows(engine: Engine, job_id: int) -> list[tuple[str, str]]:
    with Session(engine) as s:
        found = s.exec(
            select(OutboxMessage.kind, OutboxMessage.status)
            .where(OutboxMessage.job_run_id == job_id)
            .order_by(col(OutboxMessage.id))
        ).all()
        return [(kind, status) for kind, status in found]


def shown(message: dict[str, Any]) -> str:
    out = []
    for block in message["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
    return "\n".join(out)


def has_stop_button(message: dict[str, Any]) -> bool:
    return any(
        e.get("action_id") == JOB_STOP_ACTION
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )


def running(done: int) -> dict[str, Any]:
    return {
        "status": JobStatus.RUNNING,
        "started_at": utcnow(),
        "progress": {"done": done, "total": 10, "unit": "epoch", "metrics": {"loss": 1 / done}},
    }


async def test_posted_once_then_waiting_edits_fold_into_one_update(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    job_id = add_job(engine)
    await sender.drain()
    [message] = slack.roots(JOBS)
    assert message["thread_ts"] is None  # no incident: top-level in its channel
    assert message["text"].startswith("📨 Training fraud-scorer")
    assert has_stop_button(message)
    assert job_row(engine, job_id).message_ts == message["ts"]

    for done in range(1, 6):
        change(engine, job_id, **running(done))
    await sender.drain()

    [edited] = slack.roots(JOBS)
    assert edited["ts"] == message["ts"]
    assert edited["edits"] == 1
    assert len(slack.calls("chat.update")) == 1
    assert "*5/10* epoch" in shown(edited)
    assert rows(engine, job_id) == [
        (OutboxKind.JOB_POST, OutboxStatus.SENT),
        (OutboxKind.JOB_UPDATE, OutboxStatus.SENT),  # the first sent, rendered after all
        *[(OutboxKind.JOB_UPDATE, OutboxStatus.MERGED)] * 4,
    ]
    assert slack.messages(CHANNEL) == []


async def test_edit_queued_before_the_post_waits_and_the_post_shows_it(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    job_id = add_job(engine, post=False)
    change(engine, job_id, **running(3))  # queued ahead of the post itself
    post_progress(engine, job_id)
    await sender.drain()

    [message] = slack.roots(JOBS)
    assert "*3/10* epoch" in shown(message)
    assert message["edits"] == 0
    assert slack.calls("chat.update") == []
    assert rows(engine, job_id) == [
        (OutboxKind.JOB_UPDATE, OutboxStatus.MERGED),
        (OutboxKind.JOB_POST, OutboxStatus.SENT),
    ]


async def test_job_of_an_incident_posts_in_its_thread_and_replies_there(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    await sender.drain()
    [root] = slack.roots(CHANNEL)
    incident = incidents(engine)[0]

    in_thread = add_job(engine, channel=CHANNEL, thread_ts=root["ts"], incident_id=incident.id)
    top_level = add_job(engine, name="churn")
    finish(engine, in_thread, JobStatus.FAILED, message="exit code 1")
    await sender.drain()

    assert [m["ts"] for m in slack.roots(CHANNEL)] == [root["ts"]]  # nothing new top-level
    [_alerts, progress, done] = slack.replies(CHANNEL, root["ts"])
    assert progress["ts"] == job_row(engine, in_thread).message_ts
    assert "❌ failed" in shown(progress)
    assert not has_stop_button(progress)
    assert done["text"] == "❌ Training fraud-scorer failed: exit code 1"
    [other] = slack.roots(JOBS)
    assert other["text"].startswith("📨 Training churn")
    assert job_row(engine, top_level).message_ts == other["ts"]


async def test_done_lands_once_as_a_reply_under_the_progress_message(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    job_id = add_job(engine)
    change(engine, job_id, **running(9))
    manifest = {"model_version": "4", "metrics": {"val_auc": 0.93}}
    # Ended before its message was even posted: the reply still comes after it.
    finish(engine, job_id, JobStatus.SUCCEEDED, manifest=manifest)
    await sender.drain()
    await sender.drain()
    await new_sender(engine, slack).drain()

    [message] = slack.roots(JOBS)
    assert "✅ succeeded" in shown(message)
    assert "*Model* v4" in shown(message)
    assert not has_stop_button(message)
    [reply] = slack.replies(JOBS, message["ts"])
    assert reply["text"].startswith("✅ Training fraud-scorer succeeded in ")
    assert reply["text"].endswith("— model v4, val_auc 0.93")
    assert len(slack.calls("chat.postMessage")) == 2


async def test_post_without_an_answer_is_found_after_a_restart_not_posted_twice(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    # The emulator answers after the client gave up (2 s): it landed, the bot never heard.
    slack.delay_next("chat.postMessage", 3.0)
    job_id = add_job(engine)
    await sender.drain_once()
    await slack.await_for(lambda: len(slack.roots(JOBS)) == 1, timeout=5)
    assert rows(engine, job_id) == [(OutboxKind.JOB_POST, OutboxStatus.SENDING)]
    change(engine, job_id, **running(2))

    restarted = new_sender(engine, slack)
    await restarted.drain(deadline_s=15)

    [message] = slack.roots(JOBS)  # found by the outbox id in its metadata
    assert job_row(engine, job_id).message_ts == message["ts"]
    assert message["edits"] == 1  # the edit waited for the post, then went to it
    assert "*2/10* epoch" in shown(message)
    assert len([c for c in slack.calls("chat.postMessage") if c["ok"]]) == 1


async def test_refused_post_fails_the_jobs_messages_without_stopping_the_sender(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    job_id = add_job(engine, channel="C0GONE")
    change(engine, job_id, **running(1))
    finish(engine, job_id, JobStatus.FAILED, message="boom")
    other = add_job(engine, name="churn")
    await sender.drain()

    assert {status for _, status in rows(engine, job_id)} == {OutboxStatus.FAILED}
    with Session(engine) as s:
        post = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.job_run_id == job_id, OutboxMessage.kind == OutboxKind.JOB_POST
            )
        ).one()
    assert "channel_not_found" in (post.last_error or "")
    assert job_row(engine, job_id).message_ts is None
    assert job_row(engine, other).message_ts == slack.roots(JOBS)[0]["ts"]


async def test_job_waiting_for_its_post_holds_up_neither_other_jobs_nor_incidents(
    engine: Engine, sender: OutboxSender, slack: SlackEmulator
) -> None:
    slow = add_job(engine, channel=CHANNEL, name="slow")
    finish(engine, slow, JobStatus.SUCCEEDED)
    # Its post is not due yet (as after a 5xx); its final reply behind it cannot go either.
    with session_scope(engine) as s:
        s.execute(
            update(table(OutboxMessage))
            .where(
                col(OutboxMessage.job_run_id) == slow,
                col(OutboxMessage.kind) == OutboxKind.JOB_POST,
            )
            .values(next_attempt_at=utcnow() + timedelta(hours=1))
        )
    fast = add_job(engine, channel=CHANNEL, name="fast")
    finish(engine, fast, JobStatus.SUCCEEDED)
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))

    for _ in range(8):
        await sender.drain_once()

    fast_ts = job_row(engine, fast).message_ts
    [root] = [m for m in slack.roots(CHANNEL) if m["ts"] != fast_ts]
    assert root["text"].startswith("FIRING")
    assert len(slack.replies(CHANNEL, root["ts"])) == 1
    assert fast_ts is not None
    assert len(slack.replies(CHANNEL, fast_ts)) == 1
    assert job_row(engine, slow).message_ts is None
    assert len(slack.roots(CHANNEL)) == 2
