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
        depends_on: [feature-store]     # services it calls: their changes are suspects too
        owner: team-fraud
        channel: C0FRAUD                # Slack channel for this service's incidents
    backstage: [catalog-info.yaml]      # optional: services from Backstage (catalog/backstage.py)

A missing file is an empty catalog: alerts then name their service by label alone. The file may
also be a Backstage ``catalog-info.yaml`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.catalog.backstage import backstage_services, is_backstage
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


def parse_catalog(text: str, source: str = "services.yaml", base: Path | None = None) -> Catalog:
    """The catalog in ``text``: a ``services.yaml``, or a Backstage ``catalog-info.yaml``.

    A ``services.yaml`` may import Backstage files (``backstage: [catalog-info.yaml]``, paths
    relative to ``base``); for a service named in both, the fields it sets win.
    """
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: invalid YAML: {exc}") from exc
    if is_backstage(documents):
        return _validated({"services": backstage_services(text, source)}, None, source)
    if len(documents) > 1:
        raise ConfigError(f"{source}: one YAML document expected, found {len(documents)}")
    node = yaml.compose(text)
    doc = documents[0] if documents else None
    if doc is None:
        return Catalog()
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}:1: the catalog is a mapping with `services`")
    imports = doc.pop("backstage", None) or []
    if not isinstance(imports, list) or not all(isinstance(p, str) for p in imports):
        raise ConfigError(f"{source}: `backstage` is a list of catalog-info.yaml paths")
    for relative in imports:
        path = (base or Path(".")) / relative
        if not path.is_file():
            raise ConfigError(f"{source}: backstage file {path} does not exist")
        entries = doc.setdefault("services", {})
        if not isinstance(entries, dict):
            break  # validation below says what is wrong with `services`
        for name, imported in backstage_services(path.read_text("utf-8"), str(path)).items():
            own = entries.get(name)
            entries[name] = {**imported, **own} if isinstance(own, dict) else imported
    return _validated(doc, node, source)


def _validated(doc: dict[str, Any], node: Any, source: str) -> Catalog:
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
    return parse_catalog(path.read_text(encoding="utf-8"), str(path), path.parent)
