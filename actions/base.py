"""What an action is: typed params, a read-only plan a person can approve, and an apply that acts
once, only through the adapters in ``bot/clients/``.

    plan(ctx, params)        -> Plan     reads only; states what will change, in words, and pins
                                         what apply must find unchanged (resourceVersion, target
                                         revision, ...). ``noop`` when already in that state.
    apply(ctx, params, plan) -> Result   does it, once: re-checks ``plan.pinned`` first and raises
                                         ``ActionRefused`` if the world moved (a new approval is
                                         needed); a retry after success reports done, never acts
                                         twice (``ctx.key`` is the run's idempotency key).

Actions are synchronous (the vendor clients are); the runner calls them in worker threads.
Nothing here checks policy, writes audit rows or asks for approval: ``bot/runner/execute.py``
does that for every action, whoever calls it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from bot.catalog.model import Catalog, Pipeline
    from bot.clients.airflow import AirflowClient
    from bot.clients.alertmanager import AlertmanagerClient
    from bot.clients.kubernetes import KubeClient
    from bot.clients.pagerduty import PagerDutyClient
    from bot.clients.prometheus import PromClient
    from bot.clients.ray import RayJobsClient
    from bot.incidents.desk import IncidentDesk
    from bot.incidents.follow_ups import FollowUpBook
    from bot.incidents.paging import PagingBook
    from bot.incidents.silences import SilenceBook
    from bot.jobs.ledger import JobLedger


class Params(BaseModel):
    """Base of every action's params: unknown fields are an error, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


class ActionRefused(Exception):
    """The action will not run as approved: the target changed, policy says no, ..."""


class ActionFailed(Exception):
    """The action ran and did not succeed (the message says why, for a person)."""


@dataclass(frozen=True)
class Target:
    """What an action touches, for policy: a namespace (None: not a Kubernetes object)."""

    namespace: str | None
    resource: str  # "deployment/fraud-scorer", "pipeline/features", "pagerduty/PABC123"
    environment: str = "production"
    gpus: float = 0  # GPUs it asks for (a Ray job), for rules that set ``gpus``


@dataclass(frozen=True)
class Plan:
    summary: str  # one sentence a person approves
    lines: list[str] = field(default_factory=list)  # the details: from → to, what is kept
    pinned: dict[str, Any] = field(default_factory=dict)  # JSON: what apply re-checks
    noop: bool = False  # already in the desired state: apply reports done without acting

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "lines": list(self.lines),
            "pinned": self.pinned,
            "noop": self.noop,
        }


@dataclass(frozen=True)
class Result:
    ok: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary, "data": self.data}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ActionContext:
    """What an action may use. Clients are None where not configured (the action says so)."""

    actor: str  # who asked: a Slack user ID, "console", "playbook:<run id>"
    key: str = ""  # the idempotency key of this execution (deterministic names derive from it)
    incident_id: int | None = None
    kube: KubeClient | None = None
    prom: PromClient | None = None
    pagerduty: PagerDutyClient | None = None
    airflow: AirflowClient | None = None
    catalog: Catalog | None = None
    ray: RayJobsClient | None = None
    jobs: JobLedger | None = None  # opsbot's record of the Ray jobs it launched
    alertmanager: AlertmanagerClient | None = None
    silences: SilenceBook | None = None  # opsbot's record of the silences it made
    desk: IncidentDesk | None = None  # opsbot's record of incidents: declare, severity, lead
    follow_ups: FollowUpBook | None = None  # the tracked follow-ups: mark one done
    paging: PagingBook | None = None  # links a PagerDuty incident, says paging in the thread
    pipelines: Mapping[str, Pipeline] = field(default_factory=dict)
    # Post a line into the incident thread (the post_message action, progress notes).
    say: Callable[[str], None] | None = None
    clock: Callable[[], datetime] = _utcnow
    sleep: Callable[[float], None] = time.sleep


class Action(ABC, Generic[P]):
    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[Params]]
    writes: ClassVar[bool] = True  # False: read-only (wait_for_rollout, check_metric)
    # True: the incident's own bookkeeping (declare, severity, lead): anyone may run it unless a
    # policy rule names it (a ``*`` rule does not restrict it), as for reads.
    open_to_all: ClassVar[bool] = False
    # True: a successful run mitigates an incident (rollback, scale, restart, rerun); the first
    # one marks the end of "time to mitigate". Notes, pages and jobs do not.
    remediates: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, Any]) -> P:
        return self.params_model.model_validate(dict(raw))  # type: ignore[return-value]

    @abstractmethod
    def target(self, ctx: ActionContext, params: P) -> Target: ...

    @abstractmethod
    def plan(self, ctx: ActionContext, params: P) -> Plan: ...

    @abstractmethod
    def apply(self, ctx: ActionContext, params: P, plan: Plan) -> Result: ...
