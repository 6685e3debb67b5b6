"""Ranking the changes before an incident: which one most likely caused it, and why.

Only changes *before* the alert started are suspects, and only within the lookback. Each gets a
score in [0, 1] from four things a responder weighs by hand:

- **time**: closer to the alert start is more suspicious (half-life ``HALF_LIFE_MIN``);
- **relation** (bot/enrich/relations.py): the service's own deploy or model > a dataset it
  reads > a service it depends on (less for each hop further) > an upstream dataset. A change
  with no relation to the service (``other_service``) is never a suspect: the thread lists it
  as context only;
- **kind and magnitude**: a model or code deploy; for data, a schema break (removed or retyped
  fields), a row-count collapse or jump, a failed run, a new dataset version — a run that
  changed nothing measurable counts for little;
- **evidence**: a catalog signal that shifted the bad way right after the change.

The reason line says all of that in words, e.g. "model fraud-scorer 1.4.2 deployed 6 min before
the alert; error_rate +310% after it".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.enrich.types import ChangeEvent, Relation

HALF_LIFE_MIN = 30.0
CLOSE_TOGETHER_MIN = 5.0
EVIDENCE_BOOST = 1.4
# Below this, the top suspect is not called the "likely cause" on the root message.
LIKELY_CAUSE_MIN_SCORE = 0.3

RELATION_WEIGHT: dict[Relation, float] = {
    "same_service": 1.0,
    "input_dataset": 0.85,
    "dependency": 0.7,  # one hop away; times HOP_DECAY per further hop
    "upstream_dataset": 0.6,
    "other_service": 0.0,  # never ranked
}
HOP_DECAY = 0.6
RELATION_WORDS: dict[Relation, str] = {
    "same_service": "",
    "input_dataset": "input data ",
    "upstream_dataset": "upstream data ",
    "dependency": "dependency ",
    "other_service": "another service: ",
}
# Model registry events: how much each can break a service (an alias move is what serving
# picks up; a new version alone serves nothing until something points at it).
REGISTRY_WEIGHT = {"alias_set": 1.0, "alias_deleted": 0.6, "version_created": 0.5, "tag_set": 0.25}

# Evidence for a change: lines like "error_rate +310%" for signals that shifted after it.
Evidence = Callable[[ChangeEvent], Sequence[str]]


@dataclass(frozen=True)
class Suspect:
    kind: str
    ref: str
    service: str | None
    at: datetime
    score: float
    reason: str
    relation: Relation
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "service": self.service,
            "at": self.at.isoformat(),
            "score": self.score,
            "reason": self.reason,
            "relation": self.relation,
            "source": self.source,
        }


def minutes_before(at: datetime, alert_start: datetime) -> float:
    return (alert_start - at).total_seconds() / 60.0


def ago(minutes: float) -> str:
    if minutes < 1:
        return "less than a minute"
    if minutes < 90:
        return f"{round(minutes)} min"
    hours = minutes / 60
    return f"{hours:.1f} h".replace(".0 h", " h")


def magnitude(change: ChangeEvent) -> tuple[float, str]:
    """How much this kind of change can break things, and the words for it."""
    if change.kind == "model" and change.source == "registry":
        return REGISTRY_WEIGHT.get(str(change.details.get("event")), 0.25), change.summary
    if change.kind == "model":
        return 1.0, f"model {change.ref} deployed"
    if change.kind == "code":
        return 0.9, f"{change.ref} deployed"
    d = change.details
    weight, words = 0.3, []
    schema = d.get("schema") or {}
    removed, retyped, added = (
        schema.get("removed") or [],
        schema.get("retyped") or [],
        schema.get("added") or [],
    )
    if removed or retyped:
        weight = max(weight, 1.0)
    elif added:
        weight = max(weight, 0.5)
    if removed:
        words.append(f"{len(removed)} field(s) removed ({', '.join(map(str, removed[:3]))})")
    if retyped:
        names = ", ".join(str(r[0] if isinstance(r, list | tuple) else r) for r in retyped[:3])
        words.append(f"{len(retyped)} field(s) retyped ({names})")
    if added:
        words.append(f"{len(added)} field(s) added")
    pct = d.get("row_count_pct")
    if isinstance(pct, int | float):
        if pct <= -20 or pct >= 100:
            weight = max(weight, min(1.0, 0.5 + abs(pct) / 100))
        if abs(pct) >= 5:
            words.append(f"rows {pct:+.0f}%")
    if d.get("failed"):
        weight = max(weight, 0.8)
        words.append("run failed")
    version = d.get("version") or {}
    if version.get("to") and version.get("to") != version.get("from"):
        weight = max(weight, 0.45)
        words.append(f"version {version.get('from') or '?'} → {version['to']}")
    detail = "; ".join(words) if words else "rewritten, no measurable change"
    return weight, f"{change.ref}: {detail}"


def relation_weight(change: ChangeEvent) -> float:
    weight = RELATION_WEIGHT[change.relation]
    if change.relation == "dependency":
        weight *= HOP_DECAY ** max(0, change.hops - 1)
        if change.kind == "data":  # a dependency's input data, or further upstream
            depth = change.details.get("depth")
            weight *= RELATION_WEIGHT["input_dataset" if not depth else "upstream_dataset"]
    return weight


def score(change: ChangeEvent, alert_start: datetime, evidence: Sequence[str]) -> float:
    time_weight: float = 0.5 ** (max(0.0, minutes_before(change.at, alert_start)) / HALF_LIFE_MIN)
    weight: float = relation_weight(change) * magnitude(change)[0] * (0.35 + 0.65 * time_weight)
    if evidence:
        weight *= EVIDENCE_BOOST
    return round(min(1.0, weight), 3)


def rank(
    changes: Sequence[ChangeEvent],
    alert_start: datetime,
    *,
    lookback: timedelta,
    evidence: Evidence | None = None,
) -> list[Suspect]:
    """The related changes in ``[alert_start - lookback, alert_start]``, most suspicious first.

    Unrelated changes (``other_service``) and changes after the alert started are not suspects.
    """
    window = [
        c
        for c in changes
        if alert_start - lookback <= c.at <= alert_start
        and c.relation != "other_service"
        and not _first_sighting(c)
    ]
    scored: list[tuple[float, ChangeEvent, Sequence[str]]] = []
    for change in window:
        found = evidence(change) if evidence else ()
        scored.append((score(change, alert_start, found), change, found))
    scored.sort(key=lambda item: (-item[0], -item[1].at.timestamp(), item[1].ref))
    suspects = []
    for value, change, found in scored:
        # Another strong suspect close in time: say so, the responder must weigh both.
        neighbours = [
            other
            for other_value, other, _ in scored
            if other is not change
            and other.ref != change.ref  # the same version seen twice is not a second change
            and other_value >= max(LIKELY_CAUSE_MIN_SCORE, value / 2)
            and abs((other.at - change.at).total_seconds()) <= CLOSE_TOGETHER_MIN * 60
        ]
        suspects.append(
            Suspect(
                kind=change.kind,
                ref=change.ref,
                service=change.service,
                at=change.at,
                score=value,
                reason=reason(change, alert_start, found, neighbours),
                relation=change.relation,
                source=change.source,
            )
        )
    return suspects


def _first_sighting(change: ChangeEvent) -> bool:
    """The first run opsbot saw for a dataset: nothing to compare it with, so not a change."""
    return (
        change.kind == "data"
        and bool(change.details.get("first_run"))
        and not (change.details.get("failed"))
    )


def reason(
    change: ChangeEvent,
    alert_start: datetime,
    evidence: Sequence[str],
    neighbours: Sequence[ChangeEvent],
) -> str:
    words = magnitude(change)[1]
    prefix = RELATION_WORDS[change.relation]
    if change.relation == "dependency":
        hops = "" if change.hops <= 1 else f", {change.hops} hops away"
        prefix = f"dependency {change.service or '?'}{hops}: "
    text = f"{prefix}{words} {ago(minutes_before(change.at, alert_start))}"
    text += " before the alert"
    if evidence:
        text += f"; {', '.join(evidence[:2])} after it"
    if neighbours:
        other = min(neighbours, key=lambda c: abs((c.at - change.at).total_seconds()))
        gap = abs((other.at - change.at).total_seconds()) / 60
        text += f" (close to {other.ref}, {ago(gap)} apart)"
    return text


def likely_cause(suspects: Sequence[Suspect]) -> str | None:
    """What the root message says, when the top suspect is convincing enough."""
    if not suspects or suspects[0].score < LIKELY_CAUSE_MIN_SCORE:
        return None
    return suspects[0].reason
