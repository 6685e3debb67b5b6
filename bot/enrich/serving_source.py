"""The ``serving`` enrichment source: how a model service's traffic is split right now.

    catalog ``serving``: inferenceservice ─> its predictor's revisions and traffic
                         rollout          ─> its phase, step, canary weight, stable ReplicaSet
    ─> SourceResult("serving", data: kind, name, the line the thread shows)

A service served by plain Deployments (or not in the catalog) has nothing to show here
(``not_configured``). A read that fails makes the source unavailable with the reason (the
runner catches it); it never holds up the others. Runs in a worker thread under the source's
deadline (bot/enrich/runner.py).
"""

from __future__ import annotations

from typing import Protocol

from bot.catalog.model import Service
from bot.clients.kubernetes_custom import Json
from bot.clients.kubernetes_serving import predictor_state, rollout_state
from bot.enrich.types import SourceResult

SOURCE = "serving"


class ServingReader(Protocol):
    """What this source reads (``KubeClient`` is one)."""

    def read_inferenceservice(self, namespace: str, name: str) -> Json: ...

    def read_rollout(self, namespace: str, name: str) -> Json: ...


def read_serving(kube: ServingReader | None, entry: Service | None) -> SourceResult:
    serving = entry.serving if entry is not None else None
    if entry is None or serving is None or serving.kind == "deployment" or not entry.namespace:
        return SourceResult(SOURCE, "not_configured", "not served by a canary or a Rollout")
    if kube is None:
        return SourceResult(SOURCE, "not_configured", "Kubernetes is not configured")
    data: dict[str, object] = {"kind": serving.kind, "name": serving.name}
    if serving.kind == "inferenceservice":
        state = predictor_state(kube.read_inferenceservice(entry.namespace, serving.name))
        data.update(
            line=state.summary(),
            canary_percent=state.canary_percent,
            rolled_out=state.rolled_out,
            latest_ready=state.latest_ready,
            traffic=[
                {"revision": t.revision, "percent": t.percent, "role": state.role(t)}
                for t in state.traffic
            ],
        )
    else:
        rollout = rollout_state(kube.read_rollout(entry.namespace, serving.name))
        data.update(
            line=rollout.summary(),
            phase=rollout.phase,
            step=rollout.step_index,
            steps=rollout.steps,
            canary_weight=rollout.set_weight,
            stable=rollout.stable,
            aborted=rollout.aborted,
        )
    return SourceResult(SOURCE, "ok", data=data)
