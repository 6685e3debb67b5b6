"""Deploy events from CI/CD: ``POST /api/v1/deployments``, stored once, listed per service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import insert
from sqlmodel import Session, col, select

from bot.intake.times import PastTime
from bot.store.models import Deployment, table
from bot.store.types import utcnow


class DeployEvent(BaseModel):
    """One deploy, as a CI/CD pipeline reports it."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=128, description="service name, as in alerts")
    kind: Literal["code", "model"] = Field(description="new code (image) or new model version")
    version: str = Field(min_length=1, max_length=256, description="image tag or model version")
    environment: str = Field("production", min_length=1, max_length=64)
    commit: str | None = Field(None, max_length=64, description="VCS commit of the build")
    actor: str | None = Field(None, max_length=128, description="who or what deployed")
    timestamp: PastTime = Field(description="when the deploy happened (with a timezone)")
    url: HttpUrl | None = Field(None, description="link to the pipeline run or release")


def record(session: Session, event: DeployEvent) -> tuple[int, bool]:
    """Store the event unless the same one is already stored; ``(id, created)``."""
    existing = session.exec(
        select(Deployment.id).where(
            Deployment.service == event.service,
            Deployment.environment == event.environment,
            Deployment.kind == event.kind,
            Deployment.version == event.version,
            Deployment.deployed_at == event.timestamp,
        )
    ).first()
    if existing is not None:
        return existing, False
    new_id = session.execute(
        insert(table(Deployment))
        .values(
            service=event.service,
            environment=event.environment,
            kind=event.kind,
            version=event.version,
            commit=event.commit,
            actor=event.actor,
            url=str(event.url) if event.url else None,
            deployed_at=event.timestamp,
            received_at=utcnow(),
        )
        .returning(col(Deployment.id))
    ).scalar_one()
    return new_id, True


def recent(
    session: Session,
    service: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
) -> Sequence[Deployment]:
    """Deploys of one service, newest first; within ``[since, until]`` when given. The one
    query for a service's deploys (the commands, triage and the mention answer use it)."""
    query = select(Deployment).where(Deployment.service == service)
    if since is not None:
        query = query.where(col(Deployment.deployed_at) >= since)
    if until is not None:
        query = query.where(col(Deployment.deployed_at) <= until)
    return session.exec(
        query.order_by(col(Deployment.deployed_at).desc(), col(Deployment.id).desc()).limit(limit)
    ).all()


def between(
    session: Session, since: datetime, until: datetime, *, limit: int = 200
) -> Sequence[Deployment]:
    """Deploys of every service in ``[since, until]``, newest first."""
    return session.exec(
        select(Deployment)
        .where(col(Deployment.deployed_at) >= since, col(Deployment.deployed_at) <= until)
        .order_by(col(Deployment.deployed_at).desc(), col(Deployment.id).desc())
        .limit(limit)
    ).all()
