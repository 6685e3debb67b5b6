"""The template summary: facts in, a ``Document`` out (``markdown.py`` writes it as Markdown).

Deterministic and complete: the same facts give the same text, byte for byte. The sections, in
order: what happened, impact, phases, cause, actions taken, follow-ups, timeline. The five in
``PARTS`` are the ones an LLM may rewrite (``narrative.py``); phases and the timeline are always
the template's. A still-open incident reads "so far", and phases that have not happened read
"not yet" ("not known" once the incident is resolved).

Every line ends with the timeline events it came from (``[#3, #9]``); each timeline line starts
with its own id. Text from outside (titles, alert names, event texts, notes, plans, errors) is
capped here, and kept from breaking the Markdown by ``markdown.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.store.run_models import RunStatus
from bot.summary.doc import Document, Line, Section, Span, code, data, line, who
from bot.summary.model import ACK_KINDS, SummaryFacts
from bot.summary.words import clock, count, day_minute, human

PARTS = ("what_happened", "impact", "cause", "actions", "follow_ups")
ORDER = ("what_happened", "impact", "phases", "cause", "actions", "follow_ups", "timeline")
TITLES = {
    "what_happened": "What happened",
    "impact": "Impact",
    "phases": "Phases",
    "cause": "Cause",
    "actions": "Actions taken",
    "follow_ups": "Follow-ups",
    "timeline": "Timeline",
}
NOTE_LIMIT = 500
TITLE_LIMIT = 200
ALERT_CITES = 8
STATUS_WORDS = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.REFUSED: "refused",
    RunStatus.REJECTED: "rejected",
    RunStatus.EXPIRED: "approval expired",
    RunStatus.DRY_RUN: "dry run, nothing changed",
    RunStatus.AWAITING_APPROVAL: "waiting for approval",
    RunStatus.APPROVED: "approved, not yet run",
    RunStatus.RUNNING: "running",
    RunStatus.PLANNED: "planned",
}


def template_sections(facts: SummaryFacts) -> dict[str, Section]:
    """Every section of the template summary, by key."""
    build = {
        "what_happened": what_happened,
        "impact": impact,
        "phases": phases,
        "cause": cause,
        "actions": actions,
        "follow_ups": follow_ups,
        "timeline": timeline,
    }
    return {key: build[key](facts) for key in ORDER}


def document(
    facts: SummaryFacts, sections: Mapping[str, Section], footer: str | None = None
) -> Document:
    inc = facts.incident
    status = (
        inc.status
        if facts.final
        else f"{inc.status} (summary so far, as of {day_minute(facts.now)})"
    )
    return Document(
        incident_id=inc.id,
        title=inc.title,
        meta=(
            line(status, label="Status"),
            line(data(inc.severity or "unknown"), label="Severity"),
            line(data(inc.service or "unknown"), label="Service"),
            *((line(data(inc.lead), label="Lead"),) if inc.lead else ()),
        ),
        sections=tuple(sections[key] for key in ORDER if key in sections),
        footer=footer
        or (
            f"Written by opsbot from the records of incident #{inc.id}; [#N] cites timeline "
            "event N."
        ),
    )


# ─── sections ───────────────────────────────────────────────────────────────────────────────


def _section(key: str, lines: Sequence[Line], *, prose: bool = False) -> Section:
    return Section(key, TITLES[key], tuple(lines), prose=prose)


def _alert_names(facts: SummaryFacts) -> str:
    names: dict[str, list[str]] = {}
    for alert in facts.alerts:
        names.setdefault(alert.alertname, []).append(alert.status)
    parts = []
    for name, statuses in names.items():
        times = f" x{len(statuses)}" if len(statuses) > 1 else ""
        state = "firing" if "firing" in statuses else "resolved"
        parts.append(f"{name}{times} ({state})")
    return "; ".join(parts)


def _ack_actor(facts: SummaryFacts) -> str | None:
    return next((e.actor for e in facts.timeline if e.kind in ACK_KINDS and e.actor), None)


def what_happened(facts: SummaryFacts) -> Section:
    f, p, pc = facts, facts.phases, facts.phase_cites
    day = p.alerted_at.date()
    out: list[Line] = []
    names = list(dict.fromkeys(a.alertname for a in f.alerts))
    where: list[Span | str] = [" for ", data(f.incident.service)] if f.incident.service else []
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append(
            line(data(shown), " fired", *where, f" at {clock(p.alerted_at)}", cites=pc.alerted)
        )
    else:
        out.append(
            line(
                "The incident was opened from ",
                data(f.incident.source),
                *where,
                f" at {clock(p.alerted_at)}",
                cites=pc.alerted,
            )
        )
    if f.suspects:
        out.append(line("Top suspect: ", data(f.suspects[0].reason), cites=f.suspects[0].cites))
    if p.acknowledged_at is not None and p.time_to_acknowledge is not None:
        actor = _ack_actor(f)
        by: list[Span | str] = [" by ", who(actor)] if actor else []
        out.append(
            line(
                "Acknowledged",
                *by,
                f" at {clock(p.acknowledged_at, day)}, {human(p.time_to_acknowledge)} after "
                "the alert",
                cites=pc.acknowledged,
            )
        )
    run = f.mitigation()
    if run is not None and p.mitigated_at is not None and p.time_to_mitigate is not None:
        approved: list[Span | str] = [", approved by ", who(run.approver)] if run.approver else []
        out.append(
            line(
                code(run.action),
                f" mitigated it at {clock(p.mitigated_at, day)}, {human(p.time_to_mitigate)} "
                "after the alert (requested by ",
                who(run.requested_by),
                *approved,
                ")",
                cites=pc.mitigated,
            )
        )
    if f.confirmed:
        note = f.confirmed[-1]
        by = [" by ", who(note.actor)] if note.actor else []
        out.append(
            line("Cause confirmed", *by, ": ", data(note.text, NOTE_LIMIT), cites=[note.event_id])
        )
    if p.resolved_at is not None and p.time_to_resolve is not None:
        out.append(
            line(
                f"Resolved at {clock(p.resolved_at, day)}, {human(p.time_to_resolve)} after the "
                "alert",
                cites=pc.resolved,
            )
        )
    else:
        out.append(
            line(f"Still {f.incident.status} after {human(f.duration)} (as of {clock(f.now, day)})")
        )
    return _section("what_happened", out, prose=True)


def impact(facts: SummaryFacts) -> Section:
    f, p, pc = facts, facts.phases, facts.phase_cites
    day = p.alerted_at.date()
    opened = [e.id for e in f.timeline if e.kind == "incident_opened"][:1]
    out = [line(day_minute(p.alerted_at), cites=pc.alerted, label="Start")]
    if p.resolved_at is not None:
        out.append(line(day_minute(p.resolved_at), cites=pc.resolved, label="End"))
        out.append(line(human(f.duration), label="Duration"))
    else:
        out.append(line(f"not yet (still {f.incident.status})", label="End"))
        out.append(line(f"{human(f.duration)} so far", label="Duration"))
    out.append(line(data(f.incident.severity or "unknown"), cites=opened, label="Severity"))
    services = ", ".join(f.services) or "unknown"
    out.append(line(data(services), cites=opened, label="Services"))
    if f.alerts:
        alert_events = [e.id for e in f.timeline if e.kind in ("alert_firing", "alert_resolved")]
        out.append(line(data(_alert_names(f)), cites=alert_events[:ALERT_CITES], label="Alerts"))
    for mv in f.model_versions:
        by: list[Span | str] = [" by ", data(mv.actor)] if mv.actor else []
        when = clock(mv.deployed_at, day)
        if mv.during:
            spans = [f" — deployed during the incident at {when}", *by]
        else:
            spans = [f" — running at the start (deployed {when}", *by, ")"]
        out.append(
            line(
                data(f"{mv.model} {mv.version}"),
                " in ",
                data(mv.environment),
                *spans,
                label="Model version",
            )
        )
    for vol in f.volumes:
        so_far = "" if f.final else " so far"
        if vol.predictions is not None:
            rate = vol.per_second
            mean = f"{count(rate)}/s on average, " if rate is not None else ""
            out.append(
                line(
                    f"{count(vol.predictions)} predictions served{so_far} by ",
                    data(vol.service),
                    f" ({mean}signal ",
                    code(vol.signal),
                    ")",
                    label="Prediction volume",
                )
            )
        else:
            out.append(
                line(
                    "could not be read from signal ",
                    code(vol.signal),
                    " (",
                    data(vol.error or "unknown error"),
                    ")",
                    label="Prediction volume",
                )
            )
    return _section("impact", out)


def phases(facts: SummaryFacts) -> Section:
    f, p, pc = facts, facts.phases, facts.phase_cites
    day = p.alerted_at.date()
    missing = "not known" if f.final else "not yet"
    out = [
        line(
            f"{clock(p.alerted_at, day)} (the first alert; every phase counts from here)",
            cites=pc.alerted,
            label="Alerted",
        )
    ]
    if f.deviation is not None and p.time_to_detect is not None:
        out.append(
            line(
                f"{human(p.time_to_detect)} (",
                data(f.deviation.signal),
                f" first deviated at {clock(f.deviation.at, day)})",
                cites=pc.detected,
                label="Time to detect",
            )
        )
    else:
        out.append(line("not known (no metric deviation found)", label="Time to detect"))
    if p.acknowledged_at is not None and p.time_to_acknowledge is not None:
        actor = _ack_actor(f)
        by: list[Span | str] = [" by ", who(actor)] if actor else []
        out.append(
            line(
                f"{human(p.time_to_acknowledge)} (at {clock(p.acknowledged_at, day)}",
                *by,
                ")",
                cites=pc.acknowledged,
                label="Time to acknowledge",
            )
        )
    else:
        out.append(line(missing, label="Time to acknowledge"))
    if p.mitigated_at is not None and p.time_to_mitigate is not None:
        out.append(
            line(
                f"{human(p.time_to_mitigate)} (",
                code(p.mitigated_by or "?"),
                f" succeeded at {clock(p.mitigated_at, day)})",
                cites=pc.mitigated,
                label="Time to mitigate",
            )
        )
    else:
        why = " (no remediating action succeeded)" if f.final else ""
        out.append(line(missing + why, label="Time to mitigate"))
    if p.resolved_at is not None and p.time_to_resolve is not None:
        out.append(
            line(
                f"{human(p.time_to_resolve)} (at {clock(p.resolved_at, day)})",
                cites=pc.resolved,
                label="Time to resolve",
            )
        )
    else:
        out.append(line(f"not yet ({human(f.duration)} so far)", label="Time to resolve"))
    return _section("phases", out)


def cause(facts: SummaryFacts) -> Section:
    f = facts
    out = [
        line(
            data(s.reason),
            f" (score {s.score:.2f})" if s.score is not None else "",
            cites=s.cites,
            label=f"Suspect {s.rank}",
        )
        for s in f.suspects
    ]
    if not f.suspects:
        if f.enrichment:
            out.append(
                line(
                    "none: nothing related changed before the alert",
                    cites=f.enrichment,
                    label="Suspect",
                )
            )
        else:
            out.append(line("not known: enrichment did not run", label="Suspect"))
    for note in f.confirmed:
        by: list[Span | str] = [" (by ", who(note.actor), ")"] if note.actor else []
        out.append(line(data(note.text, NOTE_LIMIT), *by, cites=[note.event_id], label="Confirmed"))
    if not f.confirmed:
        out.append(line("not confirmed", label="Confirmed"))
    return _section("cause", out)


def actions(facts: SummaryFacts) -> Section:
    f = facts
    day = f.phases.alerted_at.date()
    rows: list[tuple[datetime, int, Line]] = []
    for pb in f.playbooks:
        dry = ", dry run" if pb.dry_run else ""
        rows.append(
            (
                pb.started_at,
                0,
                line(
                    "Playbook ",
                    code(pb.playbook),
                    f" (run {pb.run_id}): {pb.status}{dry}; started by ",
                    who(pb.requested_by),
                    f" at {clock(pb.started_at, day)}",
                    cites=pb.cites,
                ),
            )
        )
    for a in f.actions:
        spans: list[Span | str] = [
            code(a.action),
            f" (run {a.run_id}): {STATUS_WORDS.get(a.status, a.status)}",
        ]
        if a.playbook_run_id is not None:
            spans.append(f", a step of playbook run {a.playbook_run_id}")
        if a.plan:
            spans += [" — ", data(a.plan)]
        spans += ["; requested by ", who(a.requested_by), f" at {clock(a.requested_at, day)}"]
        if a.approver:
            spans += ["; approved by ", who(a.approver)]
            if a.approved_at is not None:
                spans.append(f" at {clock(a.approved_at, day)}")
        if a.finished_at is not None:
            spans.append(f"; ended at {clock(a.finished_at, day)}")
        if a.outcome:
            spans += [": ", data(a.outcome)]
        rows.append((a.requested_at, 1, line(*spans, cites=a.cites)))
    for job in f.jobs:
        spans = [
            code(job.template),
            f" {job.kind} job (run {job.run_id}): {job.status}; requested by ",
            who(job.requested_by),
            f" at {clock(job.submitted_at, day)}",
        ]
        if job.ended_at is not None:
            spans.append(f"; ended at {clock(job.ended_at, day)}")
        if job.message:
            spans += [": ", data(job.message)]
        rows.append((job.submitted_at, 2, line(*spans, cites=job.cites)))
    out = [row[2] for row in sorted(rows, key=lambda r: (r[0], r[1]))]
    if not out:
        out.append(line("No actions were run through opsbot."))
    return _section("actions", out)


def follow_ups(facts: SummaryFacts) -> Section:
    out = []
    for item in facts.follow_ups:
        by: list[Span | str] = [" (by ", who(item.actor), ")"] if item.actor else []
        out.append(line(data(item.text, NOTE_LIMIT), *by, cites=item.cites))
    if not out:
        out.append(line("None recorded."))
    return _section("follow_ups", out)


def timeline(facts: SummaryFacts) -> Section:
    day = facts.phases.alerted_at.date()
    out = []
    for e in facts.timeline:
        spans: list[Span | str] = [f"[#{e.id}] {clock(e.at, day)} — ", data(e.text)]
        if e.actor and e.actor not in e.text:
            spans += [" (by ", who(e.actor), ")"]
        out.append(line(*spans))
    if not out:
        out.append(line("No events recorded."))
    return _section("timeline", out)
