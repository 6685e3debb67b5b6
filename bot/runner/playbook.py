"""Playbooks: YAML runbooks (``playbooks/*.yaml``, ``apiVersion: opsbot/v1``), their model,
loading with ``file:line`` errors, matching an incident, and templating step params.

    apiVersion: opsbot/v1
    name: rollback-model-deploy
    description: Roll back, wait for the rollout, check recovery, report.
    owner: team-ml-platform
    match:
      labels: {severity: critical}      # every label given must equal the alert's
      alertnames: [FraudScorerErrors]   # the alert is one of these
      suspect_kinds: [model, code]      # the top suspect's kind
      serving_kinds: [deployment]       # how the service takes traffic (catalog ``serving``)
    params:                             # run params (`run <playbook> key=value`), with defaults
      threshold: "0.05"
    steps:
      - name: rollback
        action: rollback_deployment
        params: {namespace: "{{ service.namespace }}", deployment: "{{ service.deployment }}"}
        approval: required              # required | none | policy (default: the policy decides)
        on_failure: stop                # stop | continue | <name of another step>
      - name: report
        action: post_message
        when: "steps.rollback.ok"       # a Jinja expression over the same context
        params: {text: "Rolled back: {{ steps.rollback.summary }}"}

Templates are sandboxed Jinja with strict undefined names; the context holds ``incident``
(id, title, service, severity, labels), ``labels``, ``suspect`` (the top suspect or none),
``service`` (the catalog entry: name, namespace, deployment, deployments, model, signals by
name, ``serving`` kind and name), ``params`` and ``steps`` (earlier steps' ``ok``, ``status``,
``summary``, ``data``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from actions.registry import get as get_action

API_VERSION = "opsbot/v1"
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(default_factory=dict)
    alertnames: list[str] = Field(default_factory=list)  # any of these
    suspect_kinds: list[Literal["code", "model", "data"]] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    # The service's ``serving.kind`` in the catalog (none, or no catalog entry: deployment).
    serving_kinds: list[Literal["deployment", "inferenceservice", "rollout"]] = Field(
        default_factory=list
    )


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    approval: Literal["required", "none", "policy"] = "policy"
    when: str | None = None
    on_failure: str = "stop"  # stop | continue | <step name>


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: Literal["opsbot/v1"] = Field(alias="apiVersion")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    params: dict[str, str] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _steps_are_consistent(self) -> Playbook:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        for step in self.steps:
            if step.on_failure not in ("stop", "continue", *names):
                raise ValueError(
                    f"step {step.name}: on_failure must be stop, continue or a step name, "
                    f"not {step.on_failure!r}"
                )
            if step.on_failure == step.name:
                raise ValueError(f"step {step.name}: on_failure cannot run the same step")
        return self

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


class PlaybookError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- loading ---------------------------------------------------------------------------------


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int:
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def load_file(path: Path) -> Playbook:
    """One playbook, checked against the action registry; ``PlaybookError`` lists every
    problem as ``file:line: message``."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PlaybookError(
            [f"{path}:{mark.line + 1 if mark else 1}: invalid YAML: {exc}"]
        ) from exc
    if not isinstance(doc, dict):
        raise PlaybookError([f"{path}:1: a playbook is a mapping (apiVersion, name, steps, ...)"])
    try:
        playbook = Playbook.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "playbook"
            problems.append(f"{path}:{_line_of(node, loc)}: {where}: {err['msg']}")
        raise PlaybookError(problems) from exc
    problems = []
    for i, step in enumerate(playbook.steps):
        line = _line_of(node, ("steps", i, "action"))
        action = get_action(step.action)
        if action is None:
            problems.append(f"{path}:{line}: step {step.name}: unknown action `{step.action}`")
            continue
        fields = set(action.params_model.model_fields)
        for key in step.params:
            if key not in fields:
                problems.append(
                    f"{path}:{_line_of(node, ('steps', i, 'params', key))}: step {step.name}: "
                    f"{step.action} has no param `{key}` (it takes {', '.join(sorted(fields))})"
                )
        required = {n for n, f in action.params_model.model_fields.items() if f.is_required()}
        for missing in sorted(required - set(step.params)):
            problems.append(f"{path}:{line}: step {step.name}: {step.action} needs `{missing}`")
        for template in _templates(step):
            try:
                _ENV.parse(template)
            except TemplateError as exc:
                problems.append(f"{path}:{line}: step {step.name}: bad template: {exc}")
    if problems:
        raise PlaybookError(problems)
    return playbook


def _templates(step: Step) -> list[str]:
    out = [v for v in step.params.values() if isinstance(v, str)]
    if step.when:
        out.append("{{ " + step.when + " }}")
    return out


def playbook_files(directory: Path) -> list[Path]:
    """The playbook files of a directory (``*.yaml``, ``*.yml``), sorted; [] when it is none."""
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def validate_dir(directory: Path) -> tuple[list[str], int]:
    """``opsbot playbooks validate``: the problems (``file:line``) and how many files."""
    _, problems = load_dir(directory)
    return problems, len(playbook_files(directory))


def load_dir(directory: Path) -> tuple[dict[str, Playbook], list[str]]:
    """Every playbook in ``directory``, and the problems of the ones that failed to load."""
    files = playbook_files(directory)
    playbooks: dict[str, Playbook] = {}
    problems: list[str] = []
    for path in files:
        try:
            playbook = load_file(path)
        except PlaybookError as exc:
            problems += exc.problems
            continue
        if playbook.name in playbooks:
            problems.append(f"{path}:1: playbook name {playbook.name!r} is used twice")
            continue
        playbooks[playbook.name] = playbook
    return playbooks, problems


# -- matching and templating -----------------------------------------------------------------


def matches(
    playbook: Playbook,
    labels: Mapping[str, str],
    suspect_kind: str | None,
    service: str | None,
    serving_kind: str = "deployment",
) -> bool:
    m = playbook.match
    if m.serving_kinds and serving_kind not in m.serving_kinds:
        return False
    if any(labels.get(k) != v for k, v in m.labels.items()):
        return False
    if m.alertnames and labels.get("alertname") not in m.alertnames:
        return False
    if m.services and service not in m.services:
        return False
    return not m.suspect_kinds or suspect_kind in m.suspect_kinds


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Templates in strings (recursively in lists and dicts) rendered against ``context``."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        return _ENV.from_string(value).render(**context)
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value


def holds(expression: str, context: Mapping[str, Any]) -> bool:
    return bool(_ENV.compile_expression(expression, undefined_to_none=False)(**context))
