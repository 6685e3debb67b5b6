"""Services from a Backstage ``catalog-info.yaml``, so teams that keep one do not write it twice.

Each ``kind: Component`` entity becomes one service (the README has the table):

| Backstage                                            | opsbot catalog            |
| ---------------------------------------------------- | ------------------------- |
| ``metadata.name``                                    | the service's name        |
| ``spec.owner`` (``group:team-fraud`` → ``team-fraud``) | ``owner``               |
| ``spec.dependsOn`` Components                        | ``depends_on``            |
| ``spec.consumesApis``: the Component providing it    | ``depends_on``            |
| ``backstage.io/kubernetes-namespace``                | ``namespace``             |
| ``backstage.io/kubernetes-id``                       | ``deployments: [id]``     |
| ``pagerduty.com/service-id``                         | ``pagerduty.service``     |
| ``opsbot/deployments`` (comma-separated)             | ``deployments``           |
| ``opsbot/model``, ``opsbot/channel``                 | ``model``, ``channel``    |

Other kinds (Group, API, Resource, System...) are read only to resolve references. What
Backstage cannot say (signals, datasets) stays in ``services.yaml``, whose fields win over the
imported ones for a service named in both.
"""

from __future__ import annotations

from typing import Any

import yaml

from bot.errors import ConfigError

API_VERSION_PREFIX = "backstage.io/"
NAMESPACE = "backstage.io/kubernetes-namespace"
KUBERNETES_ID = "backstage.io/kubernetes-id"
PAGERDUTY_SERVICE = "pagerduty.com/service-id"
DEPLOYMENTS = "opsbot/deployments"
MODEL = "opsbot/model"
CHANNEL = "opsbot/channel"


def is_backstage(documents: list[Any]) -> bool:
    """A file whose documents are Backstage entities (``apiVersion: backstage.io/…``)."""
    return any(
        isinstance(d, dict) and str(d.get("apiVersion", "")).startswith(API_VERSION_PREFIX)
        for d in documents
    )


def entity_name(ref: str, default_kind: str) -> tuple[str, str]:
    """``component:default/feature-store`` → ``("component", "feature-store")``."""
    kind, _, rest = ref.rpartition(":") if ":" in ref else (default_kind, ":", ref)
    return (kind or default_kind).lower(), rest.rpartition("/")[2]


def backstage_services(text: str, source: str) -> dict[str, dict[str, Any]]:
    """The Components of a Backstage file as raw ``services.yaml`` entries, keyed by name."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: invalid YAML: {exc}") from exc
    entities = []
    for index, doc in enumerate(documents, 1):
        if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
            raise ConfigError(f"{source}: document {index} is not a Backstage entity")
        name = doc["metadata"].get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{source}: document {index} has no metadata.name")
        if not isinstance(doc.get("spec", {}), dict):
            raise ConfigError(f"{source}: {name}: spec is not a mapping")
        entities.append(doc)
    providers = {
        entity_name(str(api), "api")[1]: e["metadata"]["name"]
        for e in entities
        if str(e.get("kind", "")).lower() == "component"
        for api in _list(e.get("spec", {}).get("providesApis"), source, e, "providesApis")
    }
    services = {}
    for entity in entities:
        if str(entity.get("kind", "")).lower() == "component":
            services[entity["metadata"]["name"]] = _service(entity, providers, source)
    return services


def _service(entity: dict[str, Any], providers: dict[str, str], source: str) -> dict[str, Any]:
    name = entity["metadata"]["name"]
    spec = entity.get("spec") or {}
    notes = entity["metadata"].get("annotations") or {}
    if not isinstance(notes, dict):
        raise ConfigError(f"{source}: {name}: metadata.annotations is not a mapping")
    out: dict[str, Any] = {"name": name}
    if spec.get("owner"):
        out["owner"] = entity_name(str(spec["owner"]), "group")[1]
    depends = [
        ref_name
        for ref in _list(spec.get("dependsOn"), source, entity, "dependsOn")
        for kind, ref_name in [entity_name(str(ref), "component")]
        if kind == "component" and ref_name != name
    ]
    for api in _list(spec.get("consumesApis"), source, entity, "consumesApis"):
        provider = providers.get(entity_name(str(api), "api")[1])
        if provider and provider != name:
            depends.append(provider)
    if depends:
        out["depends_on"] = list(dict.fromkeys(depends))
    if notes.get(NAMESPACE):
        out["namespace"] = str(notes[NAMESPACE])
    if notes.get(DEPLOYMENTS):
        out["deployments"] = [d.strip() for d in str(notes[DEPLOYMENTS]).split(",") if d.strip()]
    elif notes.get(KUBERNETES_ID):
        out["deployments"] = [str(notes[KUBERNETES_ID])]
    if notes.get(PAGERDUTY_SERVICE):
        out["pagerduty"] = {"service": str(notes[PAGERDUTY_SERVICE])}
    if notes.get(MODEL):
        out["model"] = str(notes[MODEL])
    if notes.get(CHANNEL):
        out["channel"] = str(notes[CHANNEL])
    return out


def _list(value: Any, source: str, entity: dict[str, Any], field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{source}: {entity['metadata']['name']}: spec.{field} is not a list")
    return value
