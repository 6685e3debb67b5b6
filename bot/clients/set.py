"""The one typed set of adapters opsbot talks to the outside through; None where not configured.

Built once per process by the composition root (``bot.wiring.clients``). Actions write through
it with their timeout; enrichment, summaries and triage read through ``reads()``, the same
clients (and connection pools) with the shorter timeout of a read that must not hold up a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.clients.airflow import AirflowClient
    from bot.clients.alertmanager import AlertmanagerClient
    from bot.clients.kubernetes import KubeClient
    from bot.clients.pagerduty import PagerDutyClient
    from bot.clients.prometheus import PromClient
    from bot.clients.ray import RayJobsClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clients:
    kube: KubeClient | None = None
    prom: PromClient | None = None
    pagerduty: PagerDutyClient | None = None
    airflow: AirflowClient | None = None
    ray: RayJobsClient | None = None
    alertmanager: AlertmanagerClient | None = None  # its API v2: silences

    def reads(self, timeout_s: float) -> Clients:
        """The Kubernetes and Prometheus clients with ``timeout_s`` per call (shared pools)."""
        return replace(
            self,
            kube=self.kube.with_timeout(timeout_s) if self.kube is not None else None,
            prom=self.prom.with_timeout(timeout_s) if self.prom is not None else None,
        )

    def close(self) -> None:
        """Release every client's connections (the clients ``reads()`` gave with them), at
        shutdown. One that fails to close is logged and the rest are still closed."""
        for each in fields(self):
            client = getattr(self, each.name)
            close = getattr(client, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                log.exception("closing the %s client failed", each.name)
