"""Drift monitoring coverage: which tier-1 services have drift watched by an alert.

A tier-1 service (catalog ``tier: 1``) is **covered** when it has at least one signal with
``drift: true`` and Prometheus evaluates an **alerting** rule whose expression reads a metric
that one of those signals' queries reads (``promql_metrics.metric_names``). An alert on a
recording rule's output counts as reading what that recording rule reads (followed through
chains of recording rules). Coverage is covered / tier-1 services.

When the rules cannot be read (no Prometheus configured, or it did not answer), coverage is
unknown: the reason is given, no rate, and each service with a drift signal is ``covered: None``
(one without a drift signal is known to be uncovered either way).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.catalog.model import Catalog, Service
from bot.clients.prometheus import PromRule
from bot.errors import ExternalServiceError
from bot.reports.promql_metrics import PromQLError, metric_names

log = logging.getLogger(__name__)

TIER_ONE = 1
NOT_CONFIGURED = "Prometheus is not configured (OPSBOT_PROMETHEUS_URL)"


class RuleSource(Protocol):
    """Where the rules come from: ``PromClient`` (``bot/clients/prometheus.py``)."""

    def rules(self) -> list[PromRule]: ...


@dataclass(frozen=True)
class ServiceDrift:
    service: str
    covered: bool | None  # None: unknown, the rules could not be read
    drift_signals: tuple[str, ...]
    metrics: tuple[str, ...]  # what the drift signals read, sorted
    alerts: tuple[str, ...]  # alerting rules that read one of them, sorted
    reason: str | None  # why it is not covered (or unknown)

    def as_json(self) -> dict[str, Any]:
        return {
            "covered": self.covered,
            "drift_signals": list(self.drift_signals),
            "metrics": list(self.metrics),
            "alerts": list(self.alerts),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DriftCoverage:
    services: tuple[ServiceDrift, ...]  # the tier-1 services, by name
    unknown: str | None  # why the rules could not be read; None when they were
    unreadable_rules: tuple[str, ...] = ()  # rules whose expression could not be read

    @property
    def covered(self) -> int | None:
        if self.unknown is not None:
            return None
        return sum(1 for s in self.services if s.covered)

    @property
    def rate(self) -> float | None:
        covered = self.covered
        return covered / len(self.services) if covered is not None and self.services else None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "unknown" if self.unknown is not None else "ok",
            "reason": self.unknown,
            "tier1_services": len(self.services),
            "covered": self.covered,
            "rate": self.rate,
            "by_service": {s.service: s.as_json() for s in self.services},
            "not_covered": [
                {"service": s.service, "reason": s.reason}
                for s in self.services
                if s.covered is False
            ],
            "unreadable_rules": list(self.unreadable_rules),
        }


@dataclass(frozen=True)
class RulesRead:
    """Prometheus's rules as read for a report, or why there are none (``unknown``)."""

    rules: tuple[PromRule, ...] | None
    unknown: str | None

    def __post_init__(self) -> None:
        if (self.rules is None) == (self.unknown is None):
            raise ValueError("RulesRead holds either the rules or why they are unknown")


NO_PROMETHEUS = RulesRead(None, NOT_CONFIGURED)


def read_rules(source: RuleSource | None) -> RulesRead:
    """The rules ``source`` evaluates, or why they could not be read (it is not configured, or
    did not answer: ``ExternalServiceError``)."""
    if source is None:
        return NO_PROMETHEUS
    try:
        return RulesRead(tuple(source.rules()), None)
    except ExternalServiceError as exc:
        return RulesRead(None, f"Prometheus did not answer the rules request: {exc.detail}")


def drift_coverage(catalog: Catalog, read: RulesRead) -> DriftCoverage:
    """Coverage of the catalog's tier-1 services by the rules read (see the module docstring)."""
    rules = read.rules
    alerts, unreadable = _alert_metrics(rules or ())
    services = [s for s in catalog.services.values() if s.tier == TIER_ONE]
    found = tuple(
        _service(s, alerts if rules is not None else None)
        for s in sorted(services, key=lambda s: s.name)
    )
    return DriftCoverage(found, read.unknown, tuple(unreadable))


def _service(service: Service, alerts: dict[str, frozenset[str]] | None) -> ServiceDrift:
    signals = [s for s in service.signals if s.drift]
    names = tuple(s.name for s in signals)
    if not signals:
        return ServiceDrift(service.name, False, (), (), (), "no drift signal")
    metrics: set[str] = set()
    for signal in signals:
        try:
            metrics |= metric_names(signal.query)
        except PromQLError as exc:
            log.warning("drift signal %s of %s unreadable: %s", signal.name, service.name, exc)
    read = tuple(sorted(metrics))
    if not metrics:
        reason = "its drift signals read no metric"
        return ServiceDrift(service.name, False, names, (), (), reason)
    if alerts is None:
        return ServiceDrift(service.name, None, names, read, (), "alerting rules unknown")
    firing = tuple(sorted(name for name, reads in alerts.items() if reads & metrics))
    if not firing:
        reason = f"no alerting rule reads {', '.join(read)}"
        return ServiceDrift(service.name, False, names, read, (), reason)
    return ServiceDrift(service.name, True, names, read, firing, None)


def _alert_metrics(rules: Sequence[PromRule]) -> tuple[dict[str, frozenset[str]], list[str]]:
    """Alert name → the metrics it reads, through recording rules; and the unreadable rules."""
    reads: dict[int, frozenset[str]] = {}
    unreadable: list[str] = []
    recorded: dict[str, set[str]] = {}  # a recording rule's series → what it reads
    for n, rule in enumerate(rules):
        try:
            reads[n] = metric_names(rule.query)
        except PromQLError as exc:
            log.warning("rule %s in group %s unreadable: %s", rule.name, rule.group, exc)
            unreadable.append(rule.name)
            continue
        if rule.kind == "recording":
            recorded.setdefault(rule.name, set()).update(reads[n])
    alerts: dict[str, frozenset[str]] = {}
    for n, rule in enumerate(rules):
        if rule.kind == "alerting" and n in reads:
            alerts[rule.name] = alerts.get(rule.name, frozenset()) | _through(reads[n], recorded)
    return alerts, sorted(set(unreadable))


def _through(names: frozenset[str], recorded: dict[str, set[str]]) -> frozenset[str]:
    """``names`` and, for each one a recording rule writes, what that rule reads (transitively)."""
    seen = set(names)
    todo = list(names)
    while todo:
        for source in recorded.get(todo.pop(), ()):
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return frozenset(seen)
