"""What the catalog file says about each service (``services.yaml``; see the README)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bot.enrich.types import BadDirection
from bot.intake.lengths import parse_length
from bot.jobs.templates import JobTemplates
from bot.policy.model import Policy

DEFAULT_LABEL_KEYS = ["service", "app", "app_kubernetes_io_name"]
DEFAULT_SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
MIN_UPDATE_EVERY = timedelta(minutes=5)
MAX_UPDATE_EVERY = timedelta(days=1)


def _update_every(value: str) -> str:
    if parse_length(value, shortest=MIN_UPDATE_EVERY, longest=MAX_UPDATE_EVERY) is None:
        raise ValueError(f"`{value}` is not a length like 15m, 1h")
    return value


UpdateEvery = Annotated[str, AfterValidator(_update_every)]
ServiceName = Annotated[str, Field(min_length=1, max_length=128)]
SeverityName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]


class DatasetRef(BaseModel):
    """An OpenLineage dataset: ``namespace`` (e.g. ``postgres://db:5432``) and ``name``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class Signal(BaseModel):
    """A PromQL expression worth watching for this service, and which way is bad."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    query: str = Field(min_length=1)
    unit: str | None = None
    bad: BadDirection = "up"
    volume: bool = Field(
        False,
        description=(
            "this signal counts predictions served per second; the summary reports prediction "
            "volume during the incident from it"
        ),
    )
    drift: bool = Field(
        False,
        description=(
            "this signal measures data or prediction drift; a tier-1 service counts as drift "
            "monitored when one is set and a Prometheus alerting rule reads its metric"
        ),
    )


PAGERDUTY_ID = r"^P[A-Z0-9]{5,15}$"  # PagerDuty object ids: service, escalation policy


class Paging(BaseModel):
    """Where PagerDuty pages for a service: ``/ops oncall`` asks the escalation policy who is
    on call; ``/ops page`` opens an incident on the service (or its escalation policy)."""

    model_config = ConfigDict(extra="forbid")

    service: str | None = Field(None, pattern=PAGERDUTY_ID)  # PagerDuty service id
    escalation_policy: str | None = Field(None, pattern=PAGERDUTY_ID)

    @model_validator(mode="after")
    def _one_at_least(self) -> Paging:
        if self.service is None and self.escalation_policy is None:
            raise ValueError("name the PagerDuty `service`, its `escalation_policy`, or both")
        return self


ServingKind = Literal["deployment", "inferenceservice", "rollout"]


class Serving(BaseModel):
    """How a service takes traffic: a Deployment, a KServe InferenceService
    (``serving.kserve.io``) or an Argo Rollout (``argoproj.io``), by name, in the service's
    ``namespace``. It decides which actions and playbooks fit a bad model change: a canary's
    traffic shifted back, a Rollout aborted or undone, or a Deployment rolled back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ServingKind
    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    namespace: str | None = None  # Kubernetes namespace
    deployments: list[str] = Field(default_factory=list)  # Kubernetes Deployment names
    model: str | None = None  # model name as deploy events report it
    datasets: list[DatasetRef] = Field(default_factory=list)  # what the service reads
    # Services this one calls or consumes: their changes are suspects for its incidents too
    # (weighing less the further away they are); any other service's changes are context only.
    depends_on: list[ServiceName] = Field(default_factory=list, max_length=50)
    signals: list[Signal] = Field(default_factory=list)
    owner: str | None = None
    channel: str | None = None  # Slack channel ID for this service's incidents
    # Slack channel ID where `/ops update` status updates also go (stakeholders, not responders).
    stakeholder_channel: str | None = None
    pagerduty: Paging | None = None
    tier: int | None = Field(None, ge=1, le=5)  # 1: the most critical (drift coverage counts them)
    serving: Serving | None = None  # None: its `deployments`, as Deployments

    @model_validator(mode="after")
    def _served_in_a_namespace(self) -> Service:
        if self.serving is not None and self.serving.kind != "deployment" and not self.namespace:
            raise ValueError(f"`serving: {self.serving.kind}` needs the service's `namespace`")
        return self


FRESHNESS_SHORTEST = timedelta(minutes=5)
FRESHNESS_LONGEST = timedelta(days=90)


def _freshness(value: str) -> str:
    if parse_length(value, shortest=FRESHNESS_SHORTEST, longest=FRESHNESS_LONGEST) is None:
        raise ValueError(f"`{value}` is not a length like 30m, 6h, 2d")
    return value


Freshness = Annotated[str, AfterValidator(_freshness)]


class Dataset(DatasetRef):
    """A dataset the catalog keeps a freshness objective for: when its last successful
    OpenLineage run is older than ``freshness``, an incident opens for ``owner`` (a service)."""

    freshness: Freshness | None = None
    owner: ServiceName | None = None

    @model_validator(mode="after")
    def _owned_when_watched(self) -> Dataset:
        if self.freshness is not None and self.owner is None:
            raise ValueError("a dataset with a `freshness` objective needs an `owner` service")
        return self

    def objective(self) -> timedelta | None:
        """``freshness`` as a length of time (None: no objective)."""
        if self.freshness is None:
            return None
        return parse_length(self.freshness, shortest=FRESHNESS_SHORTEST, longest=FRESHNESS_LONGEST)


class Pipeline(BaseModel):
    """A data or training pipeline ``rerun_pipeline`` can start: a Kubernetes CronJob (a Job is
    created from its ``jobTemplate``) or an Airflow DAG (a DAG run through the REST API)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    kind: Literal["cronjob", "airflow"]
    namespace: str | None = None  # cronjob
    cronjob: str | None = None  # cronjob
    dag_id: str | None = None  # airflow
    conf: dict[str, Any] = Field(default_factory=dict)  # airflow: the DAG run's conf
    service: str | None = None  # the service it feeds, for buttons and policy
    timeout_s: int = Field(3600, ge=10, le=86400)  # how long to follow it before giving up

    @model_validator(mode="after")
    def _complete(self) -> Pipeline:
        if self.kind == "cronjob" and not (self.namespace and self.cronjob):
            raise ValueError("a cronjob pipeline needs `namespace` and `cronjob`")
        if self.kind == "airflow" and not self.dag_id:
            raise ValueError("an airflow pipeline needs `dag_id`")
        return self


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Alert label keys that name the service, tried in order; then ``namespace`` + ``deployment``.
    label_keys: list[str] = Field(default_factory=lambda: list(DEFAULT_LABEL_KEYS))
    services: dict[str, Service] = Field(default_factory=dict)
    pipelines: dict[str, Pipeline] = Field(default_factory=dict)
    # Datasets with a freshness objective and an owner, by a short name (see `Dataset`).
    datasets: dict[str, Dataset] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)
    jobs: JobTemplates = Field(default_factory=JobTemplates)  # Ray job templates
    # The severities people set (`/ops severity`, the root's select, declare), highest first.
    # Alerts keep whatever their `severity` label says.
    severities: list[SeverityName] = Field(
        default_factory=lambda: list(DEFAULT_SEVERITIES), min_length=1, max_length=10
    )

    # How often an open incident of a severity wants a status update (`/ops update`), e.g.
    # {sev1: 15m, sev2: 30m}; one reminder per period without one. Severities not listed: none.
    status_updates: dict[SeverityName, UpdateEvery] = Field(default_factory=dict)

    def update_periods(self) -> dict[str, timedelta]:
        """``status_updates`` as lengths of time."""
        periods = {}
        for severity, every in self.status_updates.items():
            length = parse_length(every, shortest=MIN_UPDATE_EVERY, longest=MAX_UPDATE_EVERY)
            assert length is not None  # checked by the field's validator
            periods[severity] = length
        return periods

    def get(self, name: str | None) -> Service | None:
        return self.services.get(name) if name else None

    def all_datasets(self) -> list[DatasetRef]:
        """Every dataset the catalog names: those under `datasets` and those services read,
        each once (by namespace and name)."""
        seen: dict[str, DatasetRef] = {}
        for dataset in self.datasets.values():
            seen.setdefault(dataset.key, DatasetRef(namespace=dataset.namespace, name=dataset.name))
        for service in self.services.values():
            for ref in service.datasets:
                seen.setdefault(ref.key, ref)
        return list(seen.values())
