"""A reliability report as chat lines (``/ops report``): the period first, then each KPI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.render.jobs import duration
from bot.reports.kpis import Report
from bot.reports.quantiles import Durations
from bot.reports.render_ml import ml_lines

MAX_SERVICES = 15  # per section; the JSON API has them all
MAX_FAILED = 10
FOLLOW_UP_TEXT = 80


def report_lines(report: Report) -> list[str]:
    d = report.deploys
    lines = [
        f"Reliability report {report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC "
        f"({_span(report.until - report.since)}): incidents opened and deploys made in it",
        f"Incidents: {report.incidents.total}{_counts(report.incidents.by_severity)}",
    ]
    lines += _capped(
        [f"  {s.service}: {s.total}{_counts(s.by_severity)}" for s in report.incidents.by_service],
        MAX_SERVICES,
        "services",
    )
    r = report.response
    lines += [
        "Response, from the first alert (median / p90, over n incidents):",
        _durations("MTTD (detect)", r.detect),
        _durations("MTTA (acknowledge)", r.acknowledge),
        _durations("MTTM (mitigate)", r.mitigate),
        _durations("MTTR (resolve)", r.resolve),
    ]
    kinds: dict[str, int] = {}
    for s in d.by_service:
        for kind, n in s.by_kind:
            kinds[kind] = kinds.get(kind, 0) + n
    lines.append(f"Deploys: {d.total}{_counts(tuple(kinds.items()))}")
    window = _span(d.window)
    if d.failure_rate is None:
        lines.append(f"Change failure rate: no deploys (window {window})")
    else:
        lines.append(
            f"Change failure rate: {d.failure_rate:.0%} ({len(d.failed)} of {d.total} deploys "
            f"followed by an incident on their service within {window})"
        )
    lines += _capped(
        [
            f"  {s.service}: {s.total} deploys{_counts(s.by_kind)}, {s.failed} failed "
            f"({s.failure_rate:.0%})"
            for s in d.by_service
            if s.failure_rate is not None
        ],
        MAX_SERVICES,
        "services",
    )
    lines += _capped(
        [
            f"  failed: {f.service} {f.kind} {f.version} (deploy {f.deployment_id}, "
            f"{f.deployed_at:%Y-%m-%d %H:%M} UTC) → incident #{f.incident_id}"
            for f in d.failed
        ],
        MAX_FAILED,
        "failed deploys",
    )
    lines.append(f"Rollbacks: {report.rollbacks.total}{_counts(report.rollbacks.by_service)}")
    if report.top_alerts:
        lines.append("Top recurring alerts (incidents / occurrences):")
        lines += [f"  {a.alertname}: {a.incidents} / {a.occurrences}" for a in report.top_alerts]
    else:
        lines.append("Top recurring alerts: none")
    return lines + ml_lines(report.ml) + _follow_ups(report)


def _follow_ups(report: Report) -> list[str]:
    f = report.follow_ups
    lines = [f"Follow-ups still open: {f.total}"]
    for item in f.oldest:
        owner = f"owner @{item.owner}" if item.owner else "no owner"
        text = " ".join(item.text.split())
        if len(text) > FOLLOW_UP_TEXT:
            text = text[: FOLLOW_UP_TEXT - 1] + "…"
        lines.append(
            f"  #{item.id} incident #{item.incident_id} · {owner} · open {duration(item.age_s)}"
            f" — {text}"
        )
    if f.total > len(f.oldest):
        lines.append(f"  …and {f.total - len(f.oldest)} more (`/ops followups`)")
    return lines


def _durations(label: str, d: Durations) -> str:
    if d.median_s is None or d.p90_s is None:
        return f"  {label}: — (n=0)"
    return f"  {label}: {duration(d.median_s)} / {duration(d.p90_s)} (n={d.n})"


def _counts(pairs: Sequence[tuple[str, int]]) -> str:
    shown = [f"{name} {n}" for name, n in pairs if n]
    return f" ({', '.join(shown)})" if shown else ""


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days" if seconds != 86400 else "1 day"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return duration(seconds)


def _capped(lines: list[str], limit: int, what: str) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"  …and {len(lines) - limit} more {what}"]
