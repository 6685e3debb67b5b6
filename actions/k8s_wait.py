"""``wait_for_rollout``: ``kubectl rollout status``, with a deadline, as a step of a playbook.

Reads only. Polls the rollout status every ``poll_s`` until it is complete (done), failed
(``ProgressDeadlineExceeded``) or ``timeout_s`` has passed (both failures, with the last status
in words). An answer that does not come (a timeout, a 5xx) is polled again until the deadline.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from actions.base import (
    Action,
    ActionContext,
    ActionFailed,
    ActionRefused,
    Params,
    Plan,
    Result,
    Target,
)
from bot.clients.kubernetes import RolloutStatus
from bot.errors import ExternalServiceError


class WaitParams(Params):
    namespace: str = Field(min_length=1, max_length=63, description="the Deployment's namespace")
    deployment: str = Field(min_length=1, max_length=253, description="the Deployment's name")
    timeout_s: int = Field(300, ge=1, le=3600, description="how long to wait at most, seconds")
    poll_s: float = Field(2.0, gt=0, le=60, description="seconds between two looks")


class WaitForRollout(Action[WaitParams]):
    name = "wait_for_rollout"
    description = "Wait until a Deployment's rollout completes, fails, or the time is up"
    params_model = WaitParams
    writes = False

    def target(self, ctx: ActionContext, params: WaitParams) -> Target:
        return Target(params.namespace, f"deployment/{params.deployment}")

    def plan(self, ctx: ActionContext, params: WaitParams) -> Plan:
        ref = f"{params.namespace}/{params.deployment}"
        return Plan(
            f"Wait up to {params.timeout_s}s for the rollout of {ref} to complete",
            lines=[
                f"looks every {params.poll_s:g}s; fails when the rollout fails "
                "(ProgressDeadlineExceeded) or the time is up",
            ],
        )

    def apply(self, ctx: ActionContext, params: WaitParams, plan: Plan) -> Result:
        if ctx.kube is None:
            raise ActionRefused("Kubernetes is not configured")
        ns, name = params.namespace, params.deployment
        ref = f"{ns}/{name}"
        start = ctx.clock()
        deadline = start + timedelta(seconds=params.timeout_s)
        last = "no status read yet"
        while True:
            try:
                status: RolloutStatus | None = ctx.kube.rollout_status(ns, name)
            except ExternalServiceError as exc:
                if exc.status == 404:
                    raise ActionFailed(f"deployment {ref} not found") from exc
                if not _transient(exc):
                    raise
                status, last = None, f"no status: {exc.detail}"
            now = ctx.clock()
            if status is not None:
                last = status.message
                if status.complete:
                    waited = (now - start).total_seconds()
                    return Result(
                        True,
                        f"{status.message} ({waited:.0f}s)",
                        data=_data(ns, name, status, waited),
                    )
                if status.failed:
                    raise ActionFailed(f"the rollout of {ref} failed: {status.message}")
            left = (deadline - now).total_seconds()
            if left <= 0:
                raise ActionFailed(
                    f"the rollout of {ref} did not complete within {params.timeout_s}s: {last}"
                )
            ctx.sleep(min(params.poll_s, left))


def _transient(exc: ExternalServiceError) -> bool:
    return exc.status is None or exc.status == 429 or exc.status >= 500


def _data(ns: str, name: str, status: RolloutStatus, waited: float) -> dict[str, object]:
    return {
        "namespace": ns,
        "deployment": name,
        "desired": status.desired,
        "updated": status.updated,
        "ready": status.ready,
        "available": status.available,
        "waited_s": round(waited, 1),
    }
