"""The tables of remediation: action runs, approvals, playbook runs.

action_run   one execution request of one action, unique per idempotency ``key``: whatever asks
             again with the same key (a second click, a Slack retry, a resumed playbook step,
             another replica) finds this row instead of starting a second execution
approval     an approval request; the button carries only its opaque ``token``
playbook_run one run of a playbook (its steps' state lives in the LangGraph checkpointer)

``owner`` names the replica (``bot.fleet``) applying an action run or invoking a playbook run;
when that replica is dead, the ``runs`` leader adopts the row (``bot.runner.takeover``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class RunStatus:
    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # approved (or needing none), not yet claimed by an executor
    RUNNING = "running"  # claimed: apply() is (or was, before a crash) in progress
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"  # validation, policy, or the world changed since the plan
    EXPIRED = "expired"
    REJECTED = "rejected"
    DRY_RUN = "dry_run"
    FINAL = (SUCCEEDED, FAILED, REFUSED, EXPIRED, REJECTED, DRY_RUN)


class ActionRun(SQLModel, table=True):
    __tablename__ = "action_run"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    action: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    requested_by: str = Field(max_length=64)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    playbook_run_id: int | None = Field(default=None, foreign_key="playbook_run.id", index=True)
    dry_run: bool = False
    status: str = Field(max_length=24, index=True)
    plan: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    approver: str | None = Field(default=None, max_length=64)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    owner: str | None = Field(default=None, max_length=96)  # replica holding it approved/running
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ApprovalStatus:
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Approval(SQLModel, table=True):
    __tablename__ = "approval"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)  # what the button carries; nothing else
    action_run_id: int = Field(foreign_key="action_run.id", index=True)
    requested_by: str = Field(max_length=64)
    status: str = Field(default=ApprovalStatus.PENDING, max_length=16)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class PlaybookRun(SQLModel, table=True):
    __tablename__ = "playbook_run"

    id: int | None = Field(default=None, primary_key=True)
    playbook: str = Field(max_length=128)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    requested_by: str = Field(max_length=64)
    dry_run: bool = False
    status: str = Field(max_length=24, index=True)  # running, waiting, succeeded, failed
    current_step: str | None = Field(default=None, max_length=128)
    owner: str | None = Field(default=None, max_length=96)  # replica invoking it now, else None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


@dataclass(frozen=True)
class RunView:
    """What became of a request, for the person who asked (and for tests)."""

    id: int | None
    key: str
    action: str
    status: str
    message: str  # one line for the chat: what happened or why not
    plan: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    approval_token: str | None = None
    approver: str | None = None
    decided: bool = False  # this call was the approval that counted
