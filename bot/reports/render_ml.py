"""The ML team's KPIs as chat lines, after the reliability ones (``/ops report``)."""

from __future__ import annotations

from bot.render.jobs import duration
from bot.reports.ml_kpis import MLKpis
from bot.reports.quantiles import Durations

MAX_ROWS = 10  # per list; the JSON API has them all


def ml_lines(ml: MLKpis) -> list[str]:
    return [
        *_drift(ml),
        *_pipelines(ml),
        *_freshness(ml),
        *_lineage(ml),
        *_lead_time(ml),
    ]


def _drift(ml: MLKpis) -> list[str]:
    d = ml.drift
    if not d.services:
        return ["Drift monitoring: no tier-1 service in the catalog"]
    if d.unknown is not None:
        lines = [f"Drift monitoring of {len(d.services)} tier-1 services: unknown — {d.unknown}"]
    else:
        lines = [
            f"Drift monitoring: {d.rate:.0%} of tier-1 services ({d.covered} of "
            f"{len(d.services)} with a drift signal an alerting rule reads)"
        ]
    missing = [f"  not covered: {s.service} — {s.reason}" for s in d.services if s.covered is False]
    return lines + _capped(missing, "services")


def _pipelines(ml: MLKpis) -> list[str]:
    p = ml.pipelines
    total = p.overall
    if total.success_rate is None:
        return ["Pipeline runs: none finished"]
    lines = [
        f"Pipeline runs: {total.success_rate:.0%} succeeded ({total.completed} of {total.runs}; "
        f"{total.failed} failed or aborted)"
    ]
    rows = [
        f"  {j.job}: {j.completed} of {j.runs} ({j.success_rate:.0%}), {j.failed} failed"
        for j in p.by_job
        if j.success_rate is not None
    ]
    return lines + _capped(rows, "jobs")


def _freshness(ml: MLKpis) -> list[str]:
    f = ml.freshness
    if not f.datasets:
        return ["Data freshness: no dataset with a freshness objective"]
    overall = f.adherence
    lines = [
        f"Data freshness: {_share(overall)} of the time within objective "
        f"({len(f.datasets)} datasets)"
    ]
    rows = [
        f"  {d.name} (≤ {duration(d.objective.total_seconds())}): {_share(d.adherence)}"
        for d in f.datasets
    ]
    stale = [
        f"  stale now: {d.name} — "
        + (
            f"last success {d.last_complete_at:%Y-%m-%d %H:%M} UTC"
            if d.last_complete_at
            else "no successful run recorded"
        )
        + (f", owner {d.owner}" if d.owner else "")
        for d in f.stale
    ]
    return lines + _capped(rows, "datasets") + _capped(stale, "stale datasets")


def _lineage(ml: MLKpis) -> list[str]:
    c = ml.lineage
    if c.rate is None:
        return ["Lineage completeness: the catalog names no dataset"]
    seen = len(c.named) - len(c.missing)
    lines = [
        f"Lineage completeness: {c.rate:.0%} ({seen} of {len(c.named)} catalog datasets "
        "had a lineage event)"
    ]
    return lines + _capped([f"  missing: {d.key}" for d in c.missing], "datasets")


def _lead_time(ml: MLKpis) -> list[str]:
    t = ml.lead_time
    lines = [_durations("Model lead time, registration → production (median / p90)", t.overall)]
    lines += _capped(
        [
            _durations(f"  {service} ({model})", found)
            for service, (model, found) in t.by_service().items()
        ],
        "services",
    )
    unmatched = [
        f"  unknown: {u.service} {u.version} (deploy {u.deployment_id}) — {u.reason}"
        for u in t.unmatched
    ]
    return lines + _capped(unmatched, "deploys")


def _durations(label: str, d: Durations) -> str:
    if d.median_s is None or d.p90_s is None:
        return f"{label}: — (n=0)"
    return f"{label}: {duration(d.median_s)} / {duration(d.p90_s)} (n={d.n})"


def _share(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) <= MAX_ROWS:
        return lines
    return [*lines[:MAX_ROWS], f"  …and {len(lines) - MAX_ROWS} more {what}"]
