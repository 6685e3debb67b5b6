"""The table of Ray jobs opsbot launched: one row per job, the tracker's whole memory.

job_run   one submission of a job template, unique per ``submission_id`` (deterministic: a retried
          submit finds the job already on the cluster and adopts it). The tracker polls every job
          that is not final, so a restarted bot picks up where it left off; ``final_posted`` is
          set in the same transaction as the final status, so each outcome is posted once.

The progress message in Slack is drawn from this row when it is sent (outbox kinds
``job_post`` / ``job_update``), like an incident's root.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class JobStatus:
    SUBMITTED = "submitted"  # accepted by opsbot, not yet seen on the cluster
    PENDING = "pending"  # on the cluster, waiting for resources or its runtime env
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"  # by a person, or by opsbot at a deadline (``message`` says which)
    FINAL = (SUCCEEDED, FAILED, STOPPED)
    ACTIVE = (SUBMITTED, PENDING, RUNNING)


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=16)  # train | score
    template: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {"cpus": 1.0, "gpus": 0.0, "memory_gb": 2.0}
    resources: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    entrypoint: str = Field(sa_column=Column(Text, nullable=False))
    requested_by: str = Field(max_length=64)
    action_run_id: int | None = Field(default=None, foreign_key="action_run.id", index=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    channel: str | None = Field(default=None, max_length=64)  # where the progress message goes
    thread_ts: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)  # the progress message, once sent
    status: str = Field(default=JobStatus.SUBMITTED, max_length=16, index=True)
    ray_status: str | None = Field(default=None, max_length=16)
    message: str | None = Field(default=None, sa_column=Column(Text))
    # The latest progress line: {"done": 3, "total": 10, "unit": "epoch", "metrics": {...}}
    progress: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    manifest: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    log_tail: str | None = Field(default=None, sa_column=Column(Text))
    cost_per_gpu_hour: float | None = None
    wait_for_resources: bool = False
    start_deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    stop_requested_by: str | None = Field(default=None, max_length=64)
    final_posted: bool = False
    submitted_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
