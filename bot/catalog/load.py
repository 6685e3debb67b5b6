"""Reading the catalog file (``services.yaml``), with errors that name the file and line.

    label_keys: [service, app]          # optional: alert labels that name the service
    services:
      fraud-scorer:
        namespace: ml-serving           # Kubernetes namespace
        deployments: [fraud-scorer]     # Deployments to read rollout history from
        model: fraud-scorer             # model name in deploy events
        datasets:                       # OpenLineage datasets the service reads
          - {namespace: warehouse, name: features.transactions}
        signals:                        # PromQL, one number per instant
          - {name: error_rate, query: 'sum(rate(...))', unit: ratio, bad: up}
        owner: team-fraud
        channel: C0FRAUD                # Slack channel for this service's incidents

A missing file is an empty catalog: alerts then name their service by label alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.catalog.model import Catalog
from bot.errors import ConfigError


def _line_of(node: Any, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest YAML node on ``loc`` (pydantic's error path)."""
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


def parse_catalog(text: str, source: str = "services.yaml") -> Catalog:
    try:
        node = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: invalid YAML: {exc}") from exc
    if doc is None:
        return Catalog()
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}:1: the catalog is a mapping with `services`")
    for section in ("services", "pipelines"):
        entries = doc.get(section)
        if isinstance(entries, dict):
            # The key is the name; a `name:` inside the entry must agree with it.
            for key, entry in entries.items():
                if isinstance(entry, dict):
                    entry.setdefault("name", key)
    try:
        catalog = Catalog.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:10]:
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc)
            problems.append(f"{source}:{_line_of(node, loc)}: {where}: {err['msg']}")
        raise ConfigError("invalid service catalog:\n" + "\n".join(problems)) from exc
    named = [("services", k, v.name) for k, v in catalog.services.items()]
    named += [("pipelines", k, v.name) for k, v in catalog.pipelines.items()]
    for section, key, name in named:
        if name != key:
            raise ConfigError(
                f"{source}:{_line_of(node, (section, key, 'name'))}: "
                f"{section}.{key}.name is {name!r}; it must match its key"
            )
    return catalog


def load_catalog(path: Path) -> Catalog:
    if not path.exists():
        return Catalog()
    return parse_catalog(path.read_text(encoding="utf-8"), str(path))
