"""What the catalog file says about each service (``services.yaml``; see the README)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.enrich.types import BadDirection

DEFAULT_LABEL_KEYS = ["service", "app", "app_kubernetes_io_name"]


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


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    namespace: str | None = None  # Kubernetes namespace
    deployments: list[str] = Field(default_factory=list)  # Kubernetes Deployment names
    model: str | None = None  # model name as deploy events report it
    datasets: list[DatasetRef] = Field(default_factory=list)  # what the service reads
    signals: list[Signal] = Field(default_factory=list)
    owner: str | None = None
    channel: str | None = None  # Slack channel ID for this service's incidents


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Alert label keys that name the service, tried in order; then ``namespace`` + ``deployment``.
    label_keys: list[str] = Field(default_factory=lambda: list(DEFAULT_LABEL_KEYS))
    services: dict[str, Service] = Field(default_factory=dict)

    def get(self, name: str | None) -> Service | None:
        return self.services.get(name) if name else None
