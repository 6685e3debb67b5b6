"""What an InferenceService's or a Rollout's JSON says about its traffic, in opsbot's words.

One reading for the actions' plans and the enrichment's thread line alike:

    predictor_state(isvc)  -> PredictorState   the canary percent (spec), the revisions and the
                                               traffic split (status), the predictor's readiness
    rollout_state(rollout) -> RolloutState     phase, step i/n, the canary's set weight (as
                                               ``kubectl argo rollouts get`` computes it), the
                                               stable and current pod hashes, abort and pauses

KServe tags the rolled-out revision ``prev`` in ``traffic``; the latest ready one is the canary
while the two differ. Argo's set weight is the last ``setWeight`` at or before the current step
(100 past the last step, 0 once aborted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The predictor conditions that must be True for traffic to be shifted to a revision.
READY_CONDITIONS = ("PredictorReady", "Ready")


@dataclass(frozen=True)
class TrafficTarget:
    revision: str
    percent: int
    tag: str | None
    latest: bool


@dataclass(frozen=True)
class PredictorState:
    namespace: str
    name: str
    canary_percent: int | None  # spec.predictor.canaryTrafficPercent (None: not set)
    latest_created: str | None
    latest_ready: str | None
    rolled_out: str | None  # latestRolledoutRevision: the stable one, tag ``prev``
    traffic: list[TrafficTarget] = field(default_factory=list)
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, why)

    @property
    def has_canary(self) -> bool:
        """A newer ready revision than the rolled-out one: traffic can be split."""
        return bool(self.latest_ready and self.rolled_out and self.latest_ready != self.rolled_out)

    def role(self, target: TrafficTarget) -> str:
        if target.revision == self.rolled_out and self.has_canary:
            return "prev"
        return "canary" if self.has_canary and target.latest else (target.tag or "latest")

    def split(self) -> str:
        """``90% fraud-model-predictor-00002 (prev), 10% fraud-model-predictor-00003 (canary)``"""
        if not self.traffic:
            return "no traffic reported yet"
        ordered = sorted(self.traffic, key=lambda t: (t.latest, t.revision))
        return ", ".join(f"{t.percent}% {t.revision} ({self.role(t)})" for t in ordered)

    def not_ready(self) -> str | None:
        """Why the predictor is not ready (a condition that is not True), or None."""
        for kind in READY_CONDITIONS:
            status, why = self.conditions.get(kind, ("Unknown", "not reported"))
            if status != "True":
                return f"{kind} is {status}" + (f": {why}" if why else "")
        return None

    def summary(self) -> str:
        canary = (
            f"canary {self.latest_ready} at {self.canary_percent}%"
            if self.has_canary and self.canary_percent is not None
            else (f"canary {self.latest_ready}" if self.has_canary else "no canary")
        )
        return f"InferenceService {self.name}: {canary}. Traffic: {self.split()}"


def predictor_state(isvc: Mapping[str, Any]) -> PredictorState:
    meta = isvc.get("metadata") or {}
    spec = ((isvc.get("spec") or {}).get("predictor")) or {}
    status = isvc.get("status") or {}
    predictor = ((status.get("components") or {}).get("predictor")) or {}
    percent = spec.get("canaryTrafficPercent")
    traffic = [
        TrafficTarget(
            str(t.get("revisionName") or "?"),
            int(t.get("percent") or 0),
            t.get("tag"),
            bool(t.get("latestRevision")),
        )
        for t in predictor.get("traffic") or []
        if isinstance(t, Mapping)
    ]
    conditions = {
        str(c.get("type")): (
            str(c.get("status") or "Unknown"),
            str(c.get("message") or c.get("reason") or ""),
        )
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    }
    return PredictorState(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        canary_percent=int(percent) if isinstance(percent, int) else None,
        latest_created=predictor.get("latestCreatedRevision"),
        latest_ready=predictor.get("latestReadyRevision"),
        rolled_out=predictor.get("latestRolledoutRevision"),
        traffic=traffic,
        conditions=conditions,
    )


@dataclass(frozen=True)
class RolloutState:
    namespace: str
    name: str
    phase: str
    message: str
    canary: bool  # the canary strategy (else blue-green)
    steps: int
    step_index: int | None  # status.currentStepIndex (None: not set)
    set_weight: int | None  # the canary's weight now (None: not a canary with steps)
    paused: bool  # pause conditions, or spec.paused
    aborted: bool
    stable: str | None  # status.stableRS (a pod template hash)
    current: str | None  # status.currentPodHash

    @property
    def in_progress(self) -> bool:
        """An update is under way (or paused, or aborted): current is not stable yet."""
        return bool(self.current and self.stable and self.current != self.stable)

    def summary(self) -> str:
        """``Rollout fraud-scorer: Paused at step 2/5, canary 20%, stable rs abc123``"""
        if self.aborted:
            where = f"{self.phase or 'Degraded'} (aborted)"
        elif self.paused:
            where = f"Paused at step {self.step_index or 0}/{self.steps}"
        elif self.steps and self.step_index is not None:
            where = f"{self.phase or 'Progressing'} at step {self.step_index}/{self.steps}"
        else:
            where = self.phase or "Unknown"
        parts = [where]
        if self.set_weight is not None and self.in_progress:
            parts.append(f"canary {self.set_weight}%")
        if self.stable:
            parts.append(f"stable rs {self.stable}")
        text = f"Rollout {self.name}: " + ", ".join(parts)
        if self.message and self.message not in text:
            text += f" ({self.message})"
        return text


def canary_steps(rollout: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    strategy = ((rollout.get("spec") or {}).get("strategy")) or {}
    return [s for s in (strategy.get("canary") or {}).get("steps") or [] if isinstance(s, Mapping)]


def current_step_index(rollout: Mapping[str, Any]) -> int | None:
    """Argo's ``GetCurrentCanaryStep`` index: None without canary steps, else the status's
    ``currentStepIndex`` (0 when unset)."""
    if not canary_steps(rollout):
        return None
    index = ((rollout.get("status") or {}).get("currentStepIndex")) or 0
    return int(index)


def rollout_state(rollout: Mapping[str, Any]) -> RolloutState:
    meta = rollout.get("metadata") or {}
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    steps = canary_steps(rollout)
    index = current_step_index(rollout)
    aborted = bool(status.get("abort"))
    weight: int | None = None
    if index is not None:
        if aborted:
            weight = 0
        elif index >= len(steps):
            weight = 100
        else:
            weight = next(
                (int(s["setWeight"]) for s in reversed(steps[: index + 1]) if "setWeight" in s),
                0,
            )
    return RolloutState(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        phase=str(status.get("phase") or ""),
        message=str(status.get("message") or ""),
        canary="canary" in (spec.get("strategy") or {}),
        steps=len(steps),
        step_index=int(status["currentStepIndex"])
        if status.get("currentStepIndex") is not None
        else None,
        set_weight=weight,
        paused=bool(status.get("pauseConditions")) or bool(spec.get("paused")),
        aborted=aborted,
        stable=status.get("stableRS"),
        current=status.get("currentPodHash"),
    )


# -- a Rollout's pod template, as ``kubectl argo rollouts undo`` compares it ----------------------

ROLLOUT_HASH = "rollouts-pod-template-hash"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"


def rollout_template(template: Mapping[str, Any] | None) -> dict[str, Any]:
    """A ReplicaSet's pod template as a Rollout carries it: without the
    ``rollouts-pod-template-hash`` label (what the undo patches back)."""
    t: dict[str, Any] = json.loads(json.dumps(template or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(ROLLOUT_HASH, None)
    return t


def derivative(wanted: Any, have: Any) -> bool:
    """Go's ``Semantic.DeepDerivative``, which the plugin's undo uses: every field set in
    ``wanted`` is equal in ``have`` (what the API server defaulted in ``have`` is ignored)."""
    if isinstance(wanted, Mapping):
        return isinstance(have, Mapping) and all(
            (v in (None, "", {}, []) and k not in have) or derivative(v, have.get(k))
            for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(have, list)
            and len(wanted) == len(have)
            and all(derivative(a, b) for a, b in zip(wanted, have, strict=True))
        )
    return bool(wanted == have)


def rollout_revision(rs: Mapping[str, Any]) -> int | None:
    """``rollout.argoproj.io/revision`` of a Rollout's ReplicaSet."""
    try:
        return int(((rs.get("metadata") or {}).get("annotations") or {})[ROLLOUT_REVISION])
    except (KeyError, ValueError):
        return None
