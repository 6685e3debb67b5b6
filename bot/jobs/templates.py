"""Job templates: the only Ray jobs opsbot launches (the ``jobs:`` section of ``services.yaml``).

    jobs:
      train:                                  # /ops train <name> [key=value…]
        fraud-scorer:
          entrypoint: train                   # ray_jobs/train.py (train | batch_score)
          service: fraud-scorer
          params:                             # typed, bounded; nothing else is accepted
            dataset: {type: path, default: /data/fraud/latest.parquet, under: [/data/]}
            epochs: {type: int, default: 5, min: 1, max: 50}
          resources: {cpus: 1, gpus: 0, memory_gb: 2, max_cpus: 8, max_gpus: 4}
          runtime_env: {env_vars: {OMP_NUM_THREADS: "1"}}
          ship_code: true                     # send ray_jobs/ with the job (py_modules)
          artifacts: /var/lib/opsbot/artifacts  # <artifacts>/<job id> is the job's output dir
          start_deadline_min: 5               # still PENDING after this: stopped, reported
          deadline_min: 60                    # still running after this: stopped, reported
          cost_per_gpu_hour: 2.5              # optional, for the approval's estimate
      score:
        fraud-scorer: {entrypoint: batch_score, ...}

A value typed in chat is checked against its param's type and bounds; strings (``path``,
``string``) must match a strict character set, so nothing shell-like survives, and every argument
is quoted again when the command line is built (``bot/jobs/entrypoints.py``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
# Paths and URIs: letters, digits and ``_ . / - : = @ +``; no spaces, quotes, ``$``, ``;``, `` ` ``.
SAFE_PATH = re.compile(r"^[A-Za-z0-9_./:=@+-]{1,512}$")
SAFE_STRING = re.compile(r"^[A-Za-z0-9_.:=@+,-]{0,256}$")
RESOURCE_KEYS = ("cpus", "gpus", "memory_gb")
WAIT_KEY = "wait"  # wait=true: queue a GPU request the cluster cannot serve now


class TemplateError(ValueError):
    """A value or a template that cannot be used; the message is for the person who typed it."""


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float", "bool", "choice", "path", "string"]
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[str] = Field(default_factory=list)
    under: list[str] = Field(default_factory=list)  # path: allowed prefixes (empty: any)
    pattern: str | None = None  # string: a further regex the value must match
    description: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> ParamSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice param needs `choices`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self

    def parse(self, name: str, raw: Any) -> Any:
        """The typed value of ``raw`` (a chat string or a YAML value), or ``TemplateError``."""
        text = str(raw).strip() if not isinstance(raw, bool) else str(raw).lower()
        if self.type == "bool":
            if text.lower() in ("true", "yes", "1", "on"):
                return True
            if text.lower() in ("false", "no", "0", "off"):
                return False
            raise TemplateError(f"{name} must be true or false, not `{_show(text)}`")
        if self.type in ("int", "float"):
            return self._number(name, text)
        if self.type == "choice":
            if text not in self.choices:
                raise TemplateError(f"{name} must be one of {', '.join(self.choices)}")
            return text
        if self.type == "path":
            return self._path(name, text)
        if not SAFE_STRING.match(text) or (self.pattern and not re.fullmatch(self.pattern, text)):
            raise TemplateError(
                f"{name}: `{_show(text)}` is not allowed (letters, digits and _ . : = @ + , - only"
                + (f", matching {self.pattern}" if self.pattern else "")
                + ")"
            )
        return text

    def _number(self, name: str, text: str) -> int | float:
        value: int | float
        try:
            value = int(text) if self.type == "int" else float(text)
        except ValueError:
            kind = "a whole number" if self.type == "int" else "a number"
            raise TemplateError(f"{name} must be {kind}, not `{_show(text)}`") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise TemplateError(f"{name} must be a finite number")
        if self.min is not None and value < self.min:
            raise TemplateError(f"{name}={value} is below its minimum {_num(self.min)}")
        if self.max is not None and value > self.max:
            raise TemplateError(f"{name}={value} is above its maximum {_num(self.max)}")
        return value

    def _path(self, name: str, text: str) -> str:
        if not SAFE_PATH.match(text) or text.startswith("-"):
            raise TemplateError(
                f"{name}: `{_show(text)}` is not a path opsbot passes on (letters, digits and "
                "_ . / - : = @ + only)"
            )
        if ".." in text.split("/"):
            raise TemplateError(f"{name}: `..` is not allowed in a path")
        if self.under and not any(text.startswith(prefix) for prefix in self.under):
            raise TemplateError(f"{name} must be under {' or '.join(self.under)}")
        return text


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpus: float = Field(1, ge=0, le=1024)  # CPUs for the job's workers
    gpus: float = Field(0, ge=0, le=64)  # GPUs for the job's workers
    memory_gb: float = Field(1, gt=0, le=4096)  # reserved for the job's driver
    max_cpus: float = Field(8, ge=0, le=1024)  # the most a person may ask for
    max_gpus: float = Field(0, ge=0, le=64)

    @model_validator(mode="after")
    def _within(self) -> Resources:
        if self.cpus > self.max_cpus or self.gpus > self.max_gpus:
            raise ValueError("the default resources exceed max_cpus / max_gpus")
        return self


class JobTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    kind: Literal["train", "score"] = "train"
    entrypoint: Literal["train", "batch_score"]
    description: str = ""
    service: str | None = None
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    runtime_env: dict[str, Any] = Field(default_factory=dict)
    # Ship opsbot's ray_jobs/ package with each job (runtime_env py_modules), so a cluster
    # needs only the job runtime (torch, Ray Train and Data), not opsbot installed. Off: the
    # cluster's image already has ray_jobs.
    ship_code: bool = True
    artifacts: str = "/tmp/opsbot-artifacts"  # noqa: S108  (overridden in any real config)
    start_deadline_min: float = Field(5, gt=0, le=1440)
    deadline_min: float = Field(60, gt=0, le=10080)
    cost_per_gpu_hour: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _params(self) -> JobTemplate:
        for key, spec in self.params.items():
            if not NAME.match(key) or key in (*RESOURCE_KEYS, WAIT_KEY):
                raise ValueError(f"param name {key!r} is reserved or not a plain lower-case name")
            if spec.default is not None:
                try:
                    spec.parse(key, spec.default)
                except TemplateError as exc:
                    raise ValueError(f"default of {key}: {exc}") from None
        if not SAFE_PATH.match(self.artifacts):
            raise ValueError("artifacts must be a plain path or URI")
        return self

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


class JobTemplates(BaseModel):
    """``jobs:`` — templates by kind, then name."""

    model_config = ConfigDict(extra="forbid")

    train: dict[str, JobTemplate] = Field(default_factory=dict)
    score: dict[str, JobTemplate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _named(self) -> JobTemplates:
        for kind in ("train", "score"):
            for name, template in getattr(self, kind).items():
                if not NAME.match(name):
                    raise ValueError(f"{kind}.{name}: use lower-case letters, digits, _ and -")
                template.name = name
                template.kind = kind
        return self

    def get(self, kind: str, name: str) -> JobTemplate | None:
        by_kind = {"train": self.train, "score": self.score}
        return by_kind.get(kind, {}).get(name)

    def all(self) -> list[JobTemplate]:
        return [*self.train.values(), *self.score.values()]


class JobRequest(BaseModel):
    """A template with checked values: what ``submit_ray_job`` runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    params: dict[str, Any]
    cpus: float
    gpus: float
    memory_gb: float
    wait: bool = False


def resolve(template: JobTemplate, given: dict[str, Any]) -> JobRequest:
    """Check what a person typed (``key=value`` pairs, or a playbook's params) against the
    template: unknown keys, bad types, out-of-bounds values and unsafe strings are refused."""
    values: dict[str, Any] = {}
    unknown = [k for k in given if k not in template.params and k not in (*RESOURCE_KEYS, WAIT_KEY)]
    if unknown:
        allowed = ", ".join([*template.params, *RESOURCE_KEYS, WAIT_KEY])
        raise TemplateError(
            f"{template.ref} has no param {', '.join(_show(k) for k in unknown)} "
            f"(it takes: {allowed})"
        )
    for key, spec in template.params.items():
        if key in given:
            values[key] = spec.parse(key, given[key])
        elif spec.default is not None:
            values[key] = spec.parse(key, spec.default)
        else:
            raise TemplateError(f"{template.ref} needs {key}=…")
    res = template.resources
    cpus = _resource("cpus", given.get("cpus", res.cpus), res.max_cpus)
    gpus = _resource("gpus", given.get("gpus", res.gpus), res.max_gpus)
    memory = _resource("memory_gb", given.get("memory_gb", res.memory_gb), 4096)
    if memory <= 0:
        raise TemplateError("memory_gb must be above 0")
    if cpus == 0 and gpus == 0:
        raise TemplateError("a job needs at least one CPU or GPU")
    wait = ParamSpec(type="bool").parse(WAIT_KEY, given.get(WAIT_KEY, False))
    return JobRequest(params=values, cpus=cpus, gpus=gpus, memory_gb=memory, wait=wait)


def _resource(name: str, raw: Any, most: float) -> float:
    spec = ParamSpec(type="float", min=0, max=most)
    try:
        value = float(spec.parse(name, raw))
    except TemplateError as exc:
        if "above its maximum" in str(exc):
            raise TemplateError(f"{exc} for this template") from None
        raise
    if name in ("cpus", "gpus") and value != int(value):
        raise TemplateError(f"{name} must be a whole number")
    return value


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _show(text: str) -> str:
    """A typed value, cut short and without backticks, to quote back in a refusal."""
    return text[:40].replace("`", "'")
