"""Which service an alert is about: its labels, read through the catalog."""

from __future__ import annotations

from collections.abc import Mapping

from bot.catalog.model import Catalog, Service


def service_name(labels: Mapping[str, str], catalog: Catalog) -> str | None:
    """The service an alert names.

    The catalog's ``label_keys`` are tried in order (default ``service``, ``app``,
    ``app_kubernetes_io_name``); then ``namespace`` + ``deployment`` is looked up among the
    catalog's Kubernetes Deployments; then a bare ``deployment`` label is the name. Without a
    catalog entry the label's value is still the service name: enrichment then has only what
    is keyed by that name (deploy events).
    """
    for key in catalog.label_keys:
        value = labels.get(key)
        if value:
            return value
    deployment = labels.get("deployment")
    if deployment:
        namespace = labels.get("namespace")
        for service in catalog.services.values():
            if deployment in service.deployments and namespace in (None, service.namespace):
                return service.name
        return deployment
    return None


def service_entry(labels: Mapping[str, str], catalog: Catalog) -> Service | None:
    return catalog.get(service_name(labels, catalog))
