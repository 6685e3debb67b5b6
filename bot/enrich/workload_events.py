"""Warning events about a Deployment's objects, merged into lines a person can read.

The events of the Deployment, its ReplicaSets and their pods (also pods already gone, by their
ReplicaSet's name) are kept, those before ``since`` dropped, and merged when the same kind of
object (the pods of one ReplicaSet count as one) had the same reason and message (the pod's
name and uid left out of it): one line, the counts summed, the last time kept, newest first.

Both shapes of core/v1 Events count: the kubelet's and the controllers' (``count``,
``lastTimestamp``) and the scheduler's through events.k8s.io (``series.count``,
``series.lastObservedTime``, else ``eventTime``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clients.kubernetes_pods import Json, PodSet

_UID = re.compile(r"\(?\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b\)?")
_FIELD_PATH = re.compile(r"spec\.(?:init)?[cC]ontainers\{([^}]*)\}")
_PLACEHOLDER = "\x00"


@dataclass(frozen=True)
class EventLine:
    """Warning events merged: same kind of object, reason and message."""

    kind: str  # the involved object's: Pod, ReplicaSet, Deployment
    name: str  # its name, or "<replicaset>-*" for the pods of one ReplicaSet
    reason: str
    message: str
    count: int
    last: datetime
    container: str | None = None


def event_lines(
    events: Iterable[Json], podsets: Sequence[PodSet], since: datetime
) -> list[EventLine]:
    """The Warning events since ``since`` about the Deployments, their ReplicaSets and their
    pods, merged, newest first (all of them: the caller bounds them)."""
    deployments = {str(s.deployment["metadata"]["name"]) for s in podsets}
    replicasets = {str(rs["metadata"]["name"]) for s in podsets for rs in s.replicasets}
    merged: dict[tuple[str, str, str, str], list[tuple[str, int, datetime, str | None]]] = {}
    for event in events:
        if event.get("type", "Warning") != "Warning":
            continue
        involved = event.get("involvedObject") or {}
        kind, name = str(involved.get("kind") or ""), str(involved.get("name") or "")
        group = _group(kind, name, deployments, replicasets)
        at = _event_time(event)
        if group is None or at is None or at < since:
            continue
        message = _UID.sub("", str(event.get("message") or "")).strip()
        key = (kind, group, str(event.get("reason") or ""), message.replace(name, _PLACEHOLDER))
        path = _FIELD_PATH.fullmatch(str(involved.get("fieldPath") or ""))
        merged.setdefault(key, []).append(
            (name, _event_count(event), at, path.group(1) if path else None)
        )
    lines = []
    for (kind, group, reason, message), seen in merged.items():
        names = {n for n, _, _, _ in seen}
        shown = next(iter(names)) if len(names) == 1 else f"{group}-*"
        containers = {c for _, _, _, c in seen}
        lines.append(
            EventLine(
                kind,
                shown,
                reason,
                message.replace(_PLACEHOLDER, shown),
                sum(n for _, n, _, _ in seen),
                max(at for _, _, at, _ in seen),
                containers.pop() if len(containers) == 1 else None,
            )
        )
    return sorted(lines, key=lambda line: (line.last, line.count), reverse=True)


def _group(kind: str, name: str, deployments: set[str], replicasets: set[str]) -> str | None:
    """The name a merged line goes by: the object's own, or for a pod its ReplicaSet's; None for
    an object that is none of these."""
    if kind == "Deployment" and name in deployments:
        return name
    if kind == "ReplicaSet" and name in replicasets:
        return name
    if kind == "Pod":
        return next((rs for rs in replicasets if name.startswith(f"{rs}-")), None)
    return None


def _event_time(event: Json) -> datetime | None:
    series = event.get("series") or {}
    meta = event.get("metadata") or {}
    for value in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        meta.get("creationTimestamp"),
    ):
        if (at := api_time(value)) is not None:
            return at
    return None


def _event_count(event: Json) -> int:
    series = event.get("series") or {}
    return max(1, int(series.get("count") or event.get("count") or 1))


def api_time(value: Any) -> datetime | None:
    """A timestamp as the API server writes it (RFC 3339, ``Z``; a MicroTime too), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def clip_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending "…" if cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
