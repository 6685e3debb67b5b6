"""The tables. One row type per idea; the ORM classes double as read models.

incident ──< alert            (one open incident per Alertmanager groupKey)
    ├─────< timeline_event    (ordered history of everything that happened)
    ├─────< enrichment        (one row per enrichment source: deploys, data, metrics, ...)
    ├─────< attachment        (files for the thread, e.g. the chart PNG)
    └─────< outbox            (Slack messages waiting to be sent, in order per thread)
storm ─< storm_entry          (an alert storm's one message naming its new incidents)
delivery                      (inbox: every accepted webhook, deduped on (source, dedupe_key))
deployment                    (deploy events from CI/CD)
lineage_event, lineage_run ─< lineage_run_dataset, lineage_change   (OpenLineage; see the end)
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from bot.store.types import UTCDateTime, utcnow


class IncidentStatus:
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    OPEN = (FIRING, ACKNOWLEDGED)


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        # At most one open incident per alert group: the database enforces it, not the code.
        Index(
            "uq_incident_open_group",
            "group_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    group_key: str = Field(sa_column=Column(Text, nullable=False, index=True))
    source: str = Field(max_length=32)
    status: str = Field(default=IncidentStatus.FIRING, max_length=16, index=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    severity: str | None = Field(default=None, max_length=32)
    service: str | None = Field(default=None, max_length=128)
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    generator_url: str | None = Field(default=None, sa_column=Column(Text))
    runbook_url: str | None = Field(default=None, sa_column=Column(Text))
    pagerduty_incident_id: str | None = Field(default=None, max_length=64, index=True)
    pagerduty_url: str | None = Field(default=None, sa_column=Column(Text))
    slack_channel: str | None = Field(default=None, max_length=64)
    slack_ts: str | None = Field(default=None, max_length=32)
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # Enrichment: None for incidents that need none, then "pending" until every source ran.
    enrichment_state: str | None = Field(default=None, max_length=16)
    likely_cause: str | None = Field(default=None, sa_column=Column(Text))  # the top suspect
    # Playbooks offered as buttons on the root (matched on labels and the top suspect).
    playbooks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lead: str | None = Field(default=None, max_length=64)  # the incident lead's Slack user ID
    # Who PagerDuty says is on call for the service (a name), as last read.
    oncall: str | None = Field(default=None, max_length=128)
    # The last status update (`/ops update`), and the last reminder that one is due.
    last_update_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reminded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("fingerprint", "starts_at", name="uq_alert_occurrence"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    fingerprint: str = Field(max_length=64)
    alertname: str = Field(default="", max_length=256)
    status: str = Field(max_length=16)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    generator_url: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(max_length=64)
    actor: str | None = Field(default=None, max_length=128)
    text: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Delivery(SQLModel, table=True):
    """Inbox: every webhook accepted, stored before it is answered; the dedupe key is unique."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("source", "dedupe_key", name="uq_delivery_key"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    dedupe_key: str = Field(max_length=128)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    body: str = Field(sa_column=Column(Text, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxKind:
    ROOT_POST = "root_post"
    ROOT_UPDATE = "root_update"
    REPLY = "reply"
    FILE = "file"  # an upload into the thread; the bytes are in ``attachment``
    # A Ray job's progress message, drawn from its ``job_run`` row when sent (like the root):
    # posted once, then edited in place; waiting edits of one job fold into one chat.update.
    JOB_POST = "job_post"
    JOB_UPDATE = "job_update"
    JOB_DONE = "job_done"  # the one reply that says how a job ended, under its progress message
    # The post-incident summary: one reply in the thread, drawn from its ``incident_summary``
    # row when sent, then edited in place when a better version (the LLM's) is ready.
    SUMMARY_POST = "summary_post"
    SUMMARY_UPDATE = "summary_update"
    # A message of its own in another channel (a status update for the stakeholders' channel).
    NOTICE = "notice"
    # An alert storm's one message naming every new incident of a channel while their threads
    # open at Slack's pace, drawn from its ``storm`` row when sent, then edited in place.
    STORM_POST = "storm_post"
    STORM_UPDATE = "storm_update"


class OutboxPriority(IntEnum):
    """Which of a channel's messages go first (the lower first; then in queue order)."""

    # Someone is waiting for it: an approval request, what a click or a command did (the
    # root redrawn, the thread told), the playbook offered on the root.
    INTERACTIVE = 0
    # What the bot says on its own: alerts, enrichment, the chart, reminders, jobs' progress.
    INFORMATIONAL = 1


class Attachment(SQLModel, table=True):
    """A file waiting to go into an incident thread (a chart PNG), kept until it is sent."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    filename: str = Field(max_length=256)
    title: str = Field(sa_column=Column(Text, nullable=False))
    alt_text: str = Field(sa_column=Column(Text, nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class OutboxStatus:
    PENDING = "pending"
    SENDING = "sending"  # handed to Slack; on restart, reconciled against the channel history
    SENT = "sent"
    MERGED = "merged"  # folded into another message that was sent
    FAILED = "failed"  # permanent error from Slack (e.g. channel_not_found)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "channel", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    # None only for a job message outside any incident (a job started from a channel)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    channel: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    blocks: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    ts: str | None = Field(default=None, max_length=32)
    attachment_id: int | None = Field(default=None, foreign_key="attachment.id")  # kind "file"
    job_run_id: int | None = Field(default=None, foreign_key="job_run.id")  # kinds "job_*"
    priority: int = OutboxPriority.INFORMATIONAL  # ``OutboxPriority``: chosen when queued
    storm_id: int | None = Field(default=None, foreign_key="storm.id")  # kinds "storm_*"


def table(model: type[SQLModel]) -> Table:
    """The Core table of a model: plain INSERTs through it skip the ORM's bulk machinery."""
    t = model.__table__  # type: ignore[attr-defined]
    assert isinstance(t, Table)
    return t


def fit(model: type[SQLModel], field: str, text: str) -> str:
    """``text`` cut to the length of ``model.field``'s column, for text from outside stored in a
    bounded column (PostgreSQL refuses a longer value; SQLite would keep it)."""
    length = getattr(table(model).c[field].type, "length", None)
    return text if length is None or len(text) <= length else text[:length]


class Deployment(SQLModel, table=True):
    """A change shipped to a service: new code (image tag) or a new model version."""

    __tablename__ = "deployment"
    __table_args__ = (
        UniqueConstraint(
            "service", "environment", "kind", "version", "deployed_at", name="uq_deployment_event"
        ),
        Index("ix_deployment_service_at", "service", "deployed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=128)
    environment: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    version: str = Field(max_length=256)
    commit: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=128)
    url: str | None = Field(default=None, sa_column=Column(Text))
    deployed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class EnrichmentStatus:
    PENDING = "pending"
    DONE = "done"


class Enrichment(SQLModel, table=True):
    """What one enrichment source found for an incident, or why it could not (one row each)."""

    __tablename__ = "enrichment"
    __table_args__ = (UniqueConstraint("incident_id", "source", name="uq_enrichment_source"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    source: str = Field(max_length=32)  # deploys, data, metrics, chart, suspects
    status: str = Field(max_length=16)  # ok, unavailable, not_configured
    reason: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    duration_ms: float = 0.0
    finished_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# ─── Lineage: OpenLineage run events (bot/lineage) ──────────────────────────────────────────────
#
# lineage_event                 every accepted event, deduped on (run_id, event_type, event_time)
# lineage_run ──< lineage_run_dataset   a run's inputs and outputs, facets merged across its events
#             └─< lineage_change        per output dataset of a finished run: what changed since the
#                                       previous COMPLETE run that wrote it (computed on write)


class LineageEvent(SQLModel, table=True):
    """One OpenLineage run event as received; the unique key makes a redelivery a no-op."""

    __tablename__ = "lineage_event"
    __table_args__ = (
        UniqueConstraint("run_id", "event_type", "event_time", name="uq_lineage_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36)
    event_type: str = Field(max_length=16)
    event_time: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    producer: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class LineageRun(SQLModel, table=True):
    """A run of a job; ``state`` is the terminal one once a terminal event is known."""

    __tablename__ = "lineage_run"
    __table_args__ = (
        UniqueConstraint("run_id", name="uq_lineage_run_id"),
        Index("ix_lineage_run_job", "job_namespace", "job_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36)
    job_namespace: str = Field(sa_column=Column(Text, nullable=False))
    job_name: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=16)  # START, RUNNING, OTHER, then COMPLETE, FAIL or ABORT
    state_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    first_event_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_event_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    producer: str = Field(sa_column=Column(Text, nullable=False))
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    facets: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    facet_times: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class LineageRunDataset(SQLModel, table=True):
    """A dataset a run read (``input``) or wrote (``output``), with the facets opsbot reads."""

    __tablename__ = "lineage_run_dataset"
    __table_args__ = (
        UniqueConstraint("run_pk", "direction", "namespace", "name", name="uq_lineage_run_dataset"),
        Index("ix_lineage_run_dataset_key", "namespace", "name", "direction"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_pk: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("lineage_run.id", name="fk_lineage_run_dataset_run"),
            nullable=False,
        )
    )
    direction: str = Field(max_length=8)  # input, output
    namespace: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    schema_fields: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    version: str | None = Field(default=None, sa_column=Column(Text))
    row_count: int | None = Field(default=None, sa_column=Column(BigInteger))
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    quality_metrics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    quality_assertions: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    facets: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    facet_times: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class LineageChange(SQLModel, table=True):
    """What changed in one output dataset when one run finished (see bot/lineage/diff.py)."""

    __tablename__ = "lineage_change"
    __table_args__ = (
        UniqueConstraint("run_pk", "namespace", "name", name="uq_lineage_change"),
        Index("ix_lineage_change_key_at", "namespace", "name", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_pk: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("lineage_run.id", name="fk_lineage_change_run"),
            nullable=False,
        )
    )
    run_id: str = Field(max_length=36)
    namespace: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    job: str = Field(sa_column=Column(Text, nullable=False))  # "namespace/name"
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    state: str = Field(max_length=16)  # COMPLETE, FAIL, ABORT
    failed: bool = False
    first_run: bool = False
    diff: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# ─── Audit: the append-only, hash-chained audit log (bot/audit) ─────────────────────────────────
#
# audit_entry                   one row per audited event (requested, approved, applied, ...);
#                               ``seq`` runs 1..n without gaps, each row's ``hash`` covers its
#                               content and the ``prev_hash`` of the row before. Written only by
#                               bot/audit/log.py:append; the migration adds triggers that refuse
#                               UPDATE and DELETE, and ``opsbot audit verify`` recomputes the chain.


class AuditEntry(SQLModel, table=True):
    """One audited event: who (``actor``) did what (``event``) to what (``subject``), and how."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        UniqueConstraint("seq", name="uq_audit_entry_seq"),
        UniqueConstraint("hash", name="uq_audit_entry_hash"),
        Index("ix_audit_entry_subject", "subject", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    seq: int
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(max_length=128)  # Slack user ID, "console", "system"
    event: str = Field(max_length=32)  # requested, approved, applied, failed, ...
    subject: str = Field(max_length=128)  # "action_run:12", "playbook_run:3"
    action: str | None = Field(default=None, max_length=128)
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    plan: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    approver: str | None = Field(default=None, max_length=128)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    prev_hash: str = Field(max_length=64)  # hex SHA-256 of the row before; 64 zeros for seq 1
    hash: str = Field(max_length=64)  # hex SHA-256 of this row's content and prev_hash


import bot.store.job_models  # noqa: E402  (outbox rows may point at a job_run)
import bot.store.oncall_models  # noqa: E402  (silences of an incident)
import bot.store.storm_models  # noqa: E402  (outbox rows may point at a storm)
import bot.store.summary_models  # noqa: E402,F401  (one summary per incident)
