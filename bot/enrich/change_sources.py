"""Turning what each source found into change events, and merging the ones that are the same.

A deploy usually shows up twice: CI/CD posts a deploy event, and Kubernetes records a new
ReplicaSet revision a few seconds later. They are one change: the deploy event keeps its kind,
version, commit and actor and gains the revision, images and change-cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.catalog.model import Service
from bot.changes.deployments import recent
from bot.enrich.types import ChangeEvent, ChangeKind, Relation
from bot.lineage.queries import data_changes
from bot.registry.queries import registry_changes
from bot.store.models import Deployment

if TYPE_CHECKING:
    from bot.clients.kubernetes import Revision
    from bot.lineage.queries import DataChange

# A rollout and a deploy event this close in time, naming the same version, are one change.
MERGE_WINDOW = timedelta(minutes=10)


def deploy_ref(kind: str, service: str, version: str, model: str | None = None) -> str:
    return f"{model or service} {version}" if kind == "model" else f"{service}:{version}"


def deploy_changes(
    rows: Iterable[Deployment], service: str | None, model: str | None = None
) -> list[ChangeEvent]:
    """Deploy events; those of other services are kept, marked ``other_service``."""
    out = []
    for row in rows:
        own = row.service == service
        kind: ChangeKind = "model" if row.kind == "model" else "code"
        ref = deploy_ref(kind, row.service, row.version, model if own else None)
        by = f" by {row.actor}" if row.actor else ""
        out.append(
            ChangeEvent(
                kind=kind,
                ref=ref,
                service=row.service,
                at=row.deployed_at,
                source="deploy_event",
                summary=f"{'model ' if kind == 'model' else ''}{ref} deployed{by}",
                relation="same_service" if own else "other_service",
                details={
                    "version": row.version,
                    "commit": row.commit,
                    "actor": row.actor,
                    "environment": row.environment,
                    "url": row.url,
                },
            )
        )
    return out


def image_tag(image: str) -> str:
    """``registry.example/ml/fraud-scorer:2.3.1`` → ``fraud-scorer:2.3.1``."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0]


def rollout_changes(
    revisions: Sequence[Revision], service: str, namespace: str, deployment: str
) -> list[ChangeEvent]:
    out = []
    for rev in revisions:
        tags = ", ".join(image_tag(i) for i in rev.images) or "no image"
        cause = f" ({rev.change_cause})" if rev.change_cause else ""
        out.append(
            ChangeEvent(
                kind="code",
                ref=tags,
                service=service,
                at=rev.created_at,
                source="kubernetes",
                summary=f"{namespace}/{deployment} revision {rev.revision}: {tags}{cause}",
                details={
                    "namespace": namespace,
                    "deployment": deployment,
                    "revision": rev.revision,
                    "replicaset": rev.replicaset,
                    "images": list(rev.images),
                    "change_cause": rev.change_cause,
                    "current": rev.current,
                },
            )
        )
    return out


def _same_change(event: ChangeEvent, rollout: ChangeEvent) -> bool:
    if event.service != rollout.service or abs(event.at - rollout.at) > MERGE_WINDOW:
        return False
    version = str(event.details.get("version") or "")
    images = [str(i) for i in rollout.details.get("images") or []]
    return bool(version) and any(version in image_tag(i) for i in images)


def merge_deploys(
    events: Sequence[ChangeEvent], rollouts: Sequence[ChangeEvent]
) -> list[ChangeEvent]:
    """Deploy events and rollouts as one list, a rollout folded into its deploy event."""
    merged = list(events)
    for rollout in rollouts:
        match = next((i for i, e in enumerate(merged) if _same_change(e, rollout)), None)
        if match is None:
            merged.append(rollout)
            continue
        event = merged[match]
        details = {**event.details, **{k: v for k, v in rollout.details.items() if v is not None}}
        merged[match] = replace(
            event,
            details=details,
            summary=f"{event.summary} (revision {rollout.details.get('revision')})",
        )
    return sorted(merged, key=lambda c: c.at, reverse=True)


def data_change_events(changes: Sequence[DataChange], service: str | None) -> list[ChangeEvent]:
    out = []
    for change in changes:
        relation: Relation = "input_dataset" if change.depth == 0 else "upstream_dataset"
        out.append(
            ChangeEvent(
                kind="data",
                ref=change.key,
                service=service if change.depth == 0 else None,
                at=change.at,
                source="lineage",
                summary=change.summary(),
                relation=relation,
                details={
                    "job": change.job,
                    "run_id": change.run_id,
                    "state": change.state,
                    "depth": change.depth,
                    "schema": {
                        "added": list(change.schema_added),
                        "removed": list(change.schema_removed),
                        "retyped": [list(r) for r in change.schema_retyped],
                    },
                    "row_count_before": change.row_count_before,
                    "row_count_after": change.row_count_after,
                    "row_count_pct": change.row_count_pct,
                    "version": {"from": change.version_before, "to": change.version_after},
                    "failed": change.failed,
                    "first_run": change.first_run,
                },
            )
        )
    return out


def change_json(change: ChangeEvent) -> dict[str, object]:
    return {
        "kind": change.kind,
        "ref": change.ref,
        "service": change.service,
        "at": change.at.isoformat(),
        "source": change.source,
        "summary": change.summary,
        "relation": change.relation,
        "details": change.details,
    }


def service_changes(
    session: Session,
    service: str,
    entry: Service | None,
    since: datetime,
    until: datetime,
    *,
    limit: int,
) -> list[ChangeEvent]:
    """What changed for one service in ``[since, until]``: its deploys (code and model
    versions), its registered model's registry events and its datasets' changes, newest
    first, at most ``limit``."""
    events = deploy_changes(
        recent(session, service, since=since, until=until, limit=limit),
        service,
        entry.model if entry else None,
    )
    if entry is not None and entry.model:
        models = [entry.model]
        events += [
            replace(c, service=service, relation="same_service")
            for c in registry_changes(session, models, since, until, limit=limit)
        ]
    if entry is not None and entry.datasets:
        found = data_changes(session, entry.datasets, since, until, limit=limit)
        events += data_change_events(found, service)
    events.sort(key=lambda c: c.at, reverse=True)
    return events[:limit]
