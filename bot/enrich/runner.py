"""Enriching one incident: every source in parallel, each under its own deadline.

    deploys ─┐
    rollouts ┼─> suspects (ranked, with metric and pod evidence) ─> chart ─> one transaction:
    data ────┤       │                                         enrichment rows, timeline,
    metrics ─┤       v                                         reply, PNG; the root redrawn
    workload ┘  offer: likely cause and playbooks on the root  if on call changed it
                (its own transaction, the root redrawn interactive: the button does not
                wait for the chart)

The workload source reads the service's pods (bot/enrich/workload.py); the serving source the
traffic split of its InferenceService or Rollout (bot/enrich/serving_source.py).

A source that fails or runs past ``OPSBOT_ENRICH_TIMEOUT_S`` is recorded as unavailable with the
reason; the others are not held up by it beyond that deadline. Sources run in worker threads
(the vendor clients are synchronous, each with its own request timeout), so a source that hangs
is abandoned, not waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.model import Catalog
from bot.clients.set import Clients
from bot.enrich import store
from bot.enrich.change_sources import (
    change_json,
    data_change_events,
    deploy_changes,
    merge_deploys,
    rollout_changes,
)
from bot.enrich.metrics import (
    SHIFT_WINDOW_S,
    fetch_signals,
    first_deviation,
    shift_after,
    summarize,
)
from bot.enrich.outcome import Outcome
from bot.enrich.relations import (
    Related,
    dependency_data,
    registry_models,
    relate,
    related_to,
)
from bot.enrich.serving_source import read_serving
from bot.enrich.suspects import rank
from bot.enrich.types import ChangeEvent, SignalSeries, SourceResult
from bot.enrich.workload import findings_of, workload_evidence
from bot.enrich.workload_source import read_workload
from bot.errors import ExternalServiceError
from bot.incidents.oncall import NotPaged, on_call

log = logging.getLogger(__name__)


CHART_TIMEOUT_S = 3.0
# Deployments whose rollout history one incident reads: the service's, then its dependencies'.
MAX_DEPLOYMENTS_READ = 12
# Points per signal: enough for a readable chart, few enough to query and draw quickly.
TARGET_POINTS = 240
MIN_STEP_S = 1.0


# Which playbooks fit an incident: (labels, top suspect kind, service) -> names, best first.
PlaybookOffer = Callable[[dict[str, str], str | None, str | None], list[str]]


class Enricher:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        clients: Clients,
        *,
        timeout_s: float,
        lookback: timedelta,
        metrics_window: timedelta,
        limiter: anyio.CapacityLimiter | None = None,
        offer: PlaybookOffer | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.clients = clients
        self.timeout_s = timeout_s
        self.lookback = lookback
        self.metrics_window = metrics_window
        self.limiter = limiter
        self.offer = offer  # which playbooks fit; None: none are offered

    async def enrich(
        self, incident_id: int, offered: Callable[[], None] | None = None
    ) -> Outcome | None:
        """Enrich the incident once; ``offered`` is called when the root's redraw with the
        likely cause and the playbooks was queued, before the chart (to wake the outbox)."""
        ctx = await anyio.to_thread.run_sync(store.load_context, self.engine, incident_id)
        if ctx is None:
            return None  # gone, or already enriched by an earlier run
        outcome = Outcome(incident_id)
        now = datetime.now(UTC)
        since = ctx.alert_start - self.lookback
        until = max(now, ctx.alert_start)

        related = related_to(self.catalog, ctx.service)
        (
            deploys,
            registry,
            rollouts,
            data,
            metrics,
            oncall,
            workload,
            serving,
        ) = await asyncio.gather(
            self._source("deploys", lambda: self._deploys(ctx.service, since, until)),
            self._source("registry", lambda: self._registry(since, until)),
            self._source("rollouts", lambda: self._rollouts(related, since)),
            self._source("data", lambda: self._data(related, since, until)),
            self._source("metrics", lambda: self._metrics(ctx.service, ctx.alert_start, until)),
            self._source("oncall", lambda: self._oncall(ctx.service, now)),
            self._source("workload", lambda: self._workload(ctx.service, since, now)),
            self._source(
                "serving", lambda: read_serving(self.clients.kube, self.catalog.get(ctx.service))
            ),
        )
        for result in (deploys, registry, rollouts, data, metrics, oncall, workload, serving):
            outcome.results[result.source] = result

        events = [c for r in (deploys, rollouts, data) for c in r.changes]
        deploy_events = [c for c in events if c.source == "deploy_event"]
        rollout_events = [c for c in events if c.source == "kubernetes"]
        data_events = [c for c in events if c.source == "lineage"]
        merged = [*merge_deploys(deploy_events, rollout_events), *registry.changes, *data_events]
        outcome.changes = relate(merged, related)
        outcome.changes.sort(key=lambda c: c.at, reverse=True)
        outcome.series = metrics.series

        started = time.perf_counter()
        crashes = findings_of(workload)
        outcome.suspects = rank(
            outcome.changes,
            ctx.alert_start,
            lookback=self.lookback,
            evidence=lambda c: [*workload_evidence(crashes, c), *evidence(outcome.series, c)],
        )
        outcome.results["suspects"] = SourceResult(
            "suspects",
            "ok",
            data={
                "suspects": [s.as_json() for s in outcome.suspects],
                "changes": [change_json(c) for c in outcome.changes],
                "lookback_min": int(self.lookback.total_seconds() // 60),
            },
            duration_ms=_ms(started),
        )
        if self.offer is not None:
            top_kind = outcome.suspects[0].kind if outcome.suspects else None
            outcome.playbooks = self.offer(ctx.labels, top_kind, ctx.service)
        if await anyio.to_thread.run_sync(store.offer, self.engine, ctx, outcome) and offered:
            offered()
        outcome.results["chart"] = await self._chart(outcome, ctx.title, ctx.alert_start)

        await anyio.to_thread.run_sync(store.save, self.engine, ctx, outcome)
        return outcome

    async def _source(self, name: str, work: Callable[[], SourceResult]) -> SourceResult:
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                anyio.to_thread.run_sync(work, abandon_on_cancel=True, limiter=self.limiter),
                timeout=self.timeout_s,
            )
        except TimeoutError:
            result = SourceResult(name, "unavailable", f"timed out after {self.timeout_s:g} s")
        except ExternalServiceError as exc:
            result = SourceResult(name, "unavailable", f"{exc.system}: {exc.detail}")
        except Exception as exc:  # a source must never take the others down
            log.exception("enrichment source %s failed", name)
            result = SourceResult(name, "unavailable", f"{type(exc).__name__}: {exc}")
        return replace(result, duration_ms=_ms(started))

    # -- the sources (each runs in a worker thread) ------------------------------------------

    def _deploys(self, service: str | None, since: datetime, until: datetime) -> SourceResult:
        from bot.changes.deployments import between

        entry = self.catalog.get(service)
        with Session(self.engine) as session:
            rows = between(session, since, until)
        changes = deploy_changes(rows, service, entry.model if entry else None)
        return _changes_result("deploys", changes)

    def _registry(self, since: datetime, until: datetime) -> SourceResult:
        """Model Registry events (MLflow webhooks or the poller) of every model in the catalog:
        the related ones become suspects, the others context."""
        from bot.registry.queries import registry_changes

        models = registry_models(self.catalog)
        if not models:
            return SourceResult("registry", "not_configured", "no models in the catalog")
        with Session(self.engine) as session:
            found = registry_changes(session, models, since, until)
        return _changes_result("registry", found)

    def _rollouts(self, related: Related, since: datetime) -> SourceResult:
        """The rollout history of the service's Deployments, and of its dependencies'."""
        service = related.service
        entry = self.catalog.get(service)
        if self.clients.kube is None:
            return SourceResult("rollouts", "not_configured", "Kubernetes is not configured")
        if entry is None or not entry.namespace or not entry.deployments:
            return SourceResult(
                "rollouts", "not_configured", f"no Deployments in the catalog for {service}"
            )
        read = [entry, *(self.catalog.get(d) for d in related.dependency_services)]
        workloads = [
            (e, name) for e in read if e is not None and e.namespace for name in e.deployments
        ][:MAX_DEPLOYMENTS_READ]
        changes: list[ChangeEvent] = []
        statuses = []
        for owner, name in workloads:
            assert owner.namespace is not None
            revisions = self.clients.kube.rollout_history(owner.namespace, name)
            status = self.clients.kube.rollout_status(owner.namespace, name)
            statuses.append(
                {
                    "namespace": owner.namespace,
                    "deployment": name,
                    "revision": next((r.revision for r in revisions if r.current), None),
                    "status": status.message,
                    "complete": status.complete,
                }
            )
            changes += [
                c
                for c in rollout_changes(revisions, owner.name, owner.namespace, name)
                if c.at >= since
            ]
        result = _changes_result("rollouts", changes)
        result.data["deployments"] = statuses
        return result

    def _data(self, related: Related, since: datetime, until: datetime) -> SourceResult:
        """The service's datasets and their upstream; its dependencies' datasets too."""
        from bot.lineage.queries import data_changes

        service = related.service
        readers = [(service, self.catalog.get(service))]
        readers += [(name, self.catalog.get(name)) for name in related.dependency_services]
        if not any(entry is not None and entry.datasets for _, entry in readers):
            return SourceResult(
                "data", "not_configured", f"no datasets in the catalog for {service}"
            )
        found: list[ChangeEvent] = []
        seen: set[tuple[str, object]] = set()
        with Session(self.engine) as session:
            for name, entry in readers:
                if entry is None or not entry.datasets:
                    continue
                theirs = data_change_events(
                    data_changes(session, entry.datasets, since, until), name
                )
                if name is not None and name != service:
                    theirs = dependency_data(theirs, name, related.dependencies[name])
                for change in theirs:  # a dataset read by both: the closer relation counts
                    if (change.ref, change.details.get("run_id")) not in seen:
                        seen.add((change.ref, change.details.get("run_id")))
                        found.append(change)
        return _changes_result("data", found)

    def _metrics(self, service: str | None, alert_start: datetime, until: datetime) -> SourceResult:
        entry = self.catalog.get(service)
        if self.clients.prom is None:
            return SourceResult("metrics", "not_configured", "Prometheus is not configured")
        if entry is None or not entry.signals:
            return SourceResult(
                "metrics", "not_configured", f"no signals in the catalog for {service}"
            )
        start = alert_start - self.metrics_window
        step = max(MIN_STEP_S, (until - start).total_seconds() / TARGET_POINTS)
        series, errors = fetch_signals(self.clients.prom, entry.signals, start, until, step)
        if errors and not series:
            raise ExternalServiceError(
                "prometheus", "query_range", None, "; ".join(f"{k}: {v}" for k, v in errors.items())
            )
        summaries = [summarize(s, alert_start) for s in series]
        deviations = {s.name: detection_start(s, alert_start) for s in series}
        data: dict[str, Any] = {
            "signals": [
                {
                    "name": s.name,
                    "unit": s.unit,
                    "baseline": s.baseline,
                    "now": s.now,
                    "change_pct": s.change_pct,
                    "deviated": s.deviated,
                    "first_deviation_at": _iso(deviations.get(s.name)),
                }
                for s in summaries
            ],
            "errors": errors,
            "window": {"start": start.isoformat(), "end": until.isoformat(), "step_s": step},
        }
        return SourceResult("metrics", "ok", data=data, series=series)

    def _workload(self, service: str | None, since: datetime, now: datetime) -> SourceResult:
        """The state of the service's pods: restarts and why, Pending, Warning events, the
        crashed container's previous log (bot/enrich/workload_source.py)."""
        entry = self.catalog.get(service)
        if self.clients.kube is None:
            return SourceResult("workload", "not_configured", "Kubernetes is not configured")
        if entry is None or not entry.namespace or not entry.deployments:
            return SourceResult(
                "workload", "not_configured", f"no Deployments in the catalog for {service}"
            )
        return read_workload(
            self.clients.kube, service, entry.namespace, entry.deployments, since=since, now=now
        )

    def _oncall(self, service: str | None, now: datetime) -> SourceResult:
        """Who PagerDuty says is on call for the service now (the root names them)."""
        entry = self.catalog.get(service)
        if self.clients.pagerduty is None:
            return SourceResult("oncall", "not_configured", "PagerDuty is not configured")
        if entry is None:
            return SourceResult("oncall", "not_configured", f"{service} is not in the catalog")
        try:
            found = on_call(self.clients.pagerduty, entry, now)
        except NotPaged as exc:
            return SourceResult("oncall", "not_configured", str(exc))
        primary = found.primary
        return SourceResult(
            "oncall",
            "ok",
            data={
                "name": primary.name if primary else None,
                "email": primary.email if primary else None,
                "until": _iso(found.handover),
                "next": found.next.name if found.next else None,
                "escalation_policy": found.escalation_policy_id,
                "levels": [{"level": o.level, "name": o.name} for o in found.levels],
            },
        )

    async def _chart(self, outcome: Outcome, title: str, alert_start: datetime) -> SourceResult:
        if not outcome.series:
            return SourceResult("chart", "not_configured", "no metric series to draw")
        started = time.perf_counter()

        def draw() -> bytes:
            from bot.enrich.chart import render_chart  # matplotlib: loaded by warm_up()

            return render_chart(outcome.series, outcome.changes, alert_start, title=title)

        try:
            png = await asyncio.wait_for(
                anyio.to_thread.run_sync(draw, abandon_on_cancel=True), timeout=CHART_TIMEOUT_S
            )
        except TimeoutError:
            return SourceResult(
                "chart", "unavailable", f"timed out after {CHART_TIMEOUT_S:g} s", {}, _ms(started)
            )
        except Exception as exc:
            log.exception("chart rendering failed")
            return SourceResult("chart", "unavailable", str(exc), {}, _ms(started))
        outcome.chart = png
        return SourceResult(
            "chart",
            "ok",
            data={
                "filename": f"incident-{outcome.incident_id}-metrics.png",
                "bytes": len(png),
                "alt_text": chart_alt_text(outcome.series, outcome.changes, alert_start),
            },
            duration_ms=_ms(started),
        )


def evidence(series: Sequence[SignalSeries], change: ChangeEvent) -> list[str]:
    """The catalog signals that moved the bad way right after ``change``."""
    out = []
    for s in series:
        shift = shift_after(s, change.at)
        if shift is None or not shift.in_bad_direction:
            continue
        if shift.change_pct is not None:
            out.append(f"{s.name} {shift.change_pct:+.0f}%")
        else:
            out.append(f"{s.name} {shift.before:.3g} → {shift.after:.3g}")
    return out


def detection_start(series: SignalSeries, alert_start: datetime) -> datetime | None:
    """When the signal first left its normal band, for time to detect (bot/incidents/phases.py).

    ``first_deviation`` looks for a deviation after its baseline: a baseline ending at the
    alert would only find deviations after the alert. The band here is the start of the
    fetched series instead, ``SHIFT_WINDOW_S`` or half of the pre-alert span if shorter, so a
    deviation that began before the alert fired (its ``for:`` duration, a slow drift) is found.
    None when there is too little data before the alert for a band, or no deviation.
    """
    if not series.points:
        return None
    first = series.points[0][0]
    pre_alert = max(alert_start.timestamp() - first, 0.0)
    band_end = first + min(SHIFT_WINDOW_S, pre_alert / 2)
    return first_deviation(series, datetime.fromtimestamp(band_end, tz=UTC))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _changes_result(source: str, changes: list[ChangeEvent]) -> SourceResult:
    return SourceResult(
        source, "ok", data={"changes": [change_json(c) for c in changes]}, changes=changes
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def chart_alt_text(
    series: Sequence[SignalSeries], changes: Sequence[ChangeEvent], alert_start: datetime
) -> str:
    from bot.enrich.chart import alt_text

    return alt_text(series, changes, alert_start)


def warm_up() -> None:
    """Import matplotlib (seconds) in the background at start, not in the first incident."""
    import bot.enrich.chart  # noqa: F401
