"""The LLM's narrative for a summary: five parts, every sentence citing timeline events.

    SummaryFacts ──prompt()──> system + user ──LLMClient.structured(Narrative)──> answer
                                                                                   │
    sections by part <──────────── check(): per part, accept or reject ────────────┘

The prompt gives the facts as structured text: opsbot's own figures (times, durations, ids,
statuses, action names) as they are, and every piece of text that came from outside (the
title, alert labels and annotations, event texts, notes, plans, errors, deploy versions, job
log tails) through ``fence()``, which redacts secrets, caps it and marks it as data for
``UNTRUSTED_RULES`` in the system prompt. Each timeline event is listed with its id.

The check, per part (``what_happened``, ``impact``, ``cause``, ``actions``, ``follow_ups``): the
part is rejected, with the reason recorded, when it has no sentence, or one of its sentences is
empty or over ``SENTENCE_MAX`` characters, cites nothing, or cites an id that is not an event
of this incident; the template's version of a rejected part is used instead. The schema asks
for at least one citation per sentence, but the answer is parsed without that constraint, so an
uncited sentence costs its part, not the whole narrative.

Mentions are neutralised rather than rejected: the Slack rendering passes model text through
``safe_mrkdwn`` with the timeline's actors as the only users it may mention (``<!channel>``,
``@here`` and a foreign ``<@U…>`` become inert text), and the Markdown escapes ``<``.

The budget: one ``TokenBudget`` per summary, one call. When the prompt and the answer would
not fit what is left, the prompt is rebuilt with shorter quotes first; if it still does not
fit, the client raises ``BudgetExceeded`` and the caller keeps the template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.clients.llm import LLMClient, TokenBudget, estimate_tokens
from bot.summary.doc import Section, data, line
from bot.summary.model import USER_ID, SummaryFacts
from bot.summary.template import PARTS, STATUS_WORDS, TITLES
from bot.summary.words import clock, count, day_minute, human
from bot.text.untrusted import UNTRUSTED_RULES, fence

SENTENCE_MAX = 400
MAX_OUTPUT_TOKENS = 1500
PROMPT_EVENTS_MAX = 120
# (quote limit for event texts, for everything else) per attempt to fit the budget.
QUOTE_LIMITS = ((300, 600), (100, 200))
PROMPT_OVERHEAD_TOKENS = 600  # the response schema (~440) and the message framing
_OWN_ACTOR = re.compile(r"^(?:[UW][A-Z0-9]{2,20}|console|system|playbook:\d+)$")


class Sentence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description=(
            f"One sentence of plain text, at most {SENTENCE_MAX} characters: no Markdown, no "
            "links, no mentions."
        )
    )
    cites: list[int] = Field(
        description="The ids of the timeline events that support this sentence (at least one).",
        json_schema_extra={"minItems": 1},
    )


class Narrative(BaseModel):
    """The answer's shape: a list of cited sentences per part."""

    model_config = ConfigDict(extra="forbid")

    what_happened: list[Sentence] = Field(
        description="2-5 sentences: the story from the first alert to resolution (or now)."
    )
    impact: list[Sentence] = Field(
        description=(
            "1-3 sentences: duration, severity, services, model versions, prediction volume."
        )
    )
    cause: list[Sentence] = Field(
        description="1-3 sentences: the suspected cause, and the confirmed one if a person "
        "confirmed it (say it is not confirmed otherwise)."
    )
    actions: list[Sentence] = Field(
        description="1-4 sentences: what was done, by whom, and how it ended."
    )
    follow_ups: list[Sentence] = Field(
        description="1-5 sentences: what the team should do next, from the facts given."
    )


SYSTEM_PROMPT = f"""\
You write the narrative of a post-incident summary for a team that runs ML models in \
production, from the facts opsbot recorded. {UNTRUSTED_RULES}

Answer with five parts (what_happened, impact, cause, actions, follow_ups), each a list of \
sentences. Every sentence is plain text of at most {SENTENCE_MAX} characters and has `cites`: \
the ids of the timeline events that support it (the numbers after # in the Timeline). Cite only \
ids listed in the Timeline. Leave out anything you cannot support with an event id. Use only the \
figures given; do not estimate or invent numbers, names or times. Refer to people by the user \
ID given (for example U0ALICE), never with @ or <@...>. Write for engineers: short, factual, \
past tense."""


@dataclass(frozen=True)
class NarrativeResult:
    sections: dict[str, Section]  # the accepted parts, ready for the document
    parts: dict[str, list[dict[str, Any]]]  # the accepted parts as JSON
    rejected: dict[str, str]  # part -> why the template's version is used
    model: str
    tokens: int  # spent by this summary so far (the budget's ``spent``)

    def as_json(self) -> dict[str, Any]:
        return {
            "parts": self.parts,
            "rejected": self.rejected,
            "model": self.model,
            "tokens": self.tokens,
        }


def write_narrative(facts: SummaryFacts, llm: LLMClient, budget: TokenBudget) -> NarrativeResult:
    """Ask the LLM for the narrative and check it; raises ``LLMUnavailable`` on any failure."""
    user = prompt(facts, *QUOTE_LIMITS[0])
    for limits in QUOTE_LIMITS[1:]:
        if prompt_tokens(user) + MAX_OUTPUT_TOKENS <= budget.remaining:
            break
        user = prompt(facts, *limits)
    answer = llm.structured(
        system=SYSTEM_PROMPT,
        user=user,
        schema=Narrative,
        budget=budget,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        purpose="summary",
    )
    accepted, rejected = check(facts, answer)
    sections = {
        part: Section(
            part,
            TITLES[part],
            tuple(line(data(s.text, SENTENCE_MAX), cites=s.cites) for s in sentences),
            prose=True,
            by=llm.model,
        )
        for part, sentences in accepted.items()
    }
    parts = {
        part: [{"text": s.text, "cites": sorted(set(s.cites))} for s in sentences]
        for part, sentences in accepted.items()
    }
    return NarrativeResult(sections, parts, rejected, llm.model, budget.spent)


def prompt_tokens(user: str) -> int:
    """What the client will reserve for the prompt, about: the messages as JSON, the schema."""
    return estimate_tokens(json.dumps([SYSTEM_PROMPT, user])) + PROMPT_OVERHEAD_TOKENS


def check(
    facts: SummaryFacts, answer: Narrative
) -> tuple[dict[str, list[Sentence]], dict[str, str]]:
    """``(accepted parts, rejected parts with the reason)``, in ``PARTS`` order."""
    known = facts.event_ids
    accepted: dict[str, list[Sentence]] = {}
    rejected: dict[str, str] = {}
    for part in PARTS:
        sentences: list[Sentence] = getattr(answer, part)
        reason = _problem(sentences, known)
        if reason is None:
            accepted[part] = sentences
        else:
            rejected[part] = reason
    return accepted, rejected


def _problem(sentences: Sequence[Sentence], known: frozenset[int]) -> str | None:
    if not sentences:
        return "no sentences"
    for n, sentence in enumerate(sentences, 1):
        if not sentence.text.strip():
            return f"sentence {n} is empty"
        if len(sentence.text) > SENTENCE_MAX:
            return f"sentence {n} is longer than {SENTENCE_MAX} characters"
        if not sentence.cites:
            return f"sentence {n} cites no timeline event"
        unknown = sorted(set(sentence.cites) - known)
        if unknown:
            ids = ", ".join(f"#{i}" for i in unknown)
            return f"sentence {n} cites {ids}, not an event of this incident"
    return None


# ─── the prompt ─────────────────────────────────────────────────────────────────────────────


def prompt(facts: SummaryFacts, event_limit: int = 300, quote_limit: int = 600) -> str:
    """The user message: the facts, outside text fenced, the timeline with its ids."""
    f, p, pc = facts, facts.phases, facts.phase_cites
    inc = f.incident
    day = p.alerted_at.date()
    state = "resolved: this summary is final" if f.final else "still open: write 'so far'"
    out = [
        f"Incident #{inc.id}, status {inc.status} ({state}), source {inc.source}.",
        fence("incident title", inc.title, limit=quote_limit),
        fence(
            "severity and services",
            f"severity: {inc.severity or 'unknown'}; services: {', '.join(f.services) or '-'}",
            limit=quote_limit,
        ),
        "",
        "## Figures computed by opsbot (exact; cite the events given)",
        f"- first alert: {day_minute(p.alerted_at)}{_ids(pc.alerted)}",
    ]
    if p.resolved_at is not None:
        out.append(f"- resolved: {day_minute(p.resolved_at)}{_ids(pc.resolved)}")
        out.append(f"- duration: {human(f.duration)}")
    else:
        out.append(f"- not resolved yet; {human(f.duration)} so far (as of {day_minute(f.now)})")
    if f.deviation is not None and p.time_to_detect is not None:
        out.append(
            f"- time to detect: {human(p.time_to_detect)} (signal {f.deviation.signal} first "
            f"deviated at {clock(f.deviation.at, day)}){_ids(pc.detected)}"
        )
    else:
        out.append("- time to detect: not known")
    for name, span, cites in (
        ("acknowledge", p.time_to_acknowledge, pc.acknowledged),
        ("mitigate", p.time_to_mitigate, pc.mitigated),
        ("resolve", p.time_to_resolve, pc.resolved),
    ):
        took = human(span) if span is not None else ("not known" if f.final else "not yet")
        out.append(f"- time to {name}: {took}{_ids(cites)}")
    if p.mitigated_by:
        out.append(f"- mitigated by the action {p.mitigated_by}")
    for vol in f.volumes:
        if vol.predictions is not None:
            rate = vol.per_second
            mean = f", {count(rate)}/s on average" if rate is not None else ""
            out.append(
                f"- prediction volume (signal {vol.signal}): {count(vol.predictions)} "
                f"predictions served{'' if f.final else ' so far'}{mean}"
            )
        else:
            out.append(f"- prediction volume (signal {vol.signal}): could not be read")
    if f.model_versions:
        listed = "\n".join(
            f"{mv.model} {mv.version} ({mv.environment}) "
            f"{'deployed during the incident' if mv.during else 'running at the start'}, "
            f"deployed {day_minute(mv.deployed_at)} by {mv.actor or 'unknown'}"
            for mv in f.model_versions
        )
        out += ["- model versions (from deploy events, no timeline id):", fence("deploys", listed)]
    out += _alerts(facts, quote_limit)
    out += _cause(facts, quote_limit)
    out += _actions(facts, quote_limit)
    out += _follow_ups(facts, quote_limit)
    out += _timeline(facts, event_limit)
    return "\n".join(out)


def _ids(ids: Sequence[int]) -> str:
    return f" (events {', '.join(f'#{i}' for i in ids)})" if ids else ""


def _alerts(facts: SummaryFacts, limit: int) -> list[str]:
    if not facts.alerts:
        return ["", "## Alerts", "none (opened without an alert)"]
    out = ["", "## Alerts"]
    for a in facts.alerts[:10]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
        notes = "\n".join(f"{k}: {v}" for k, v in sorted(a.annotations.items()))
        out.append(f"- {a.status}, started {day_minute(a.starts_at)}:")
        out.append(fence("alert", f"name: {a.alertname}\nlabels: {labels}\n{notes}", limit=limit))
    if len(facts.alerts) > 10:
        out.append(f"- and {len(facts.alerts) - 10} more alerts")
    return out


def _cause(facts: SummaryFacts, limit: int) -> list[str]:
    out = ["", "## Suspected causes (ranked by opsbot from changes before the alert)"]
    for s in facts.suspects:
        score = f", score {s.score:.2f}" if s.score is not None else ""
        out.append(f"- suspect {s.rank}{score}{_ids(s.cites)}:")
        out.append(fence("suspect", s.reason, limit=limit))
    if not facts.suspects:
        out.append("- none found" if facts.enrichment else "- enrichment did not run")
    for gap in facts.unavailable:
        out.append(f"- evidence source {gap.source} was unavailable{_ids(gap.cites)}:")
        out.append(fence("reason", gap.reason, limit=limit))
    if facts.confirmed:
        confirmed = ", ".join(f"#{n.event_id}" for n in facts.confirmed)
        out.append(f"Confirmed cause: the note(s) {confirmed} in the Timeline (a person wrote it).")
    else:
        out.append("Confirmed cause: none; no person confirmed a cause.")
    return out


def _actions(facts: SummaryFacts, limit: int) -> list[str]:
    out = ["", "## Actions, playbooks and jobs run through opsbot"]
    day = facts.phases.alerted_at.date()
    for pb in facts.playbooks:
        out.append(
            f"- playbook {pb.playbook} run {pb.run_id}: {pb.status}"
            f"{', dry run' if pb.dry_run else ''}, started by {_who(pb.requested_by)} at "
            f"{clock(pb.started_at, day)}{_ids(pb.cites)}"
        )
    for a in facts.actions:
        approved = f", approved by {_who(a.approver)}" if a.approver else ""
        out.append(
            f"- action {a.action} run {a.run_id}: {STATUS_WORDS.get(a.status, a.status)}, "
            f"requested by {_who(a.requested_by)} at {clock(a.requested_at, day)}{approved}"
            f"{_ids(a.cites)}"
        )
        quoted = [f"plan: {a.plan}" if a.plan else "", f"outcome: {a.outcome}" if a.outcome else ""]
        text = "\n".join(x for x in quoted if x) or "(no plan or outcome recorded)"
        out.append(fence("action plan and outcome", text, limit=limit))
    for job in facts.jobs:
        out.append(
            f"- {job.kind} job {job.template} run {job.run_id}: {job.status}, requested by "
            f"{_who(job.requested_by)}{_ids(job.cites)}"
        )
        text = f"message: {job.message or ''}"
        if job.log_tail and job.status == "failed":
            text += f"\nlog tail:\n{job.log_tail[-limit:]}"
        out.append(fence("job message and log", text, limit=limit))
    if len(out) == 2:
        out.append("none")
    return out


def _follow_ups(facts: SummaryFacts, limit: int) -> list[str]:
    out = ["", "## Follow-ups (people's notes and what opsbot derived from the facts)"]
    for item in facts.follow_ups:
        out.append(f"-{_ids(item.cites) or ' (no event)'}:")
        out.append(fence("follow-up", item.text, limit=limit))
    if not facts.follow_ups:
        out.append("none")
    return out


def _timeline(facts: SummaryFacts, limit: int) -> list[str]:
    day = facts.phases.alerted_at.date()
    events = list(facts.timeline)
    out = ["", "## Timeline (the ids you may cite)"]
    if len(events) > PROMPT_EVENTS_MAX:
        half = PROMPT_EVENTS_MAX // 2
        skipped = len(events) - 2 * half
        events = [*events[:half], *events[-half:]]
        out.append(f"({skipped} events in the middle are left out)")
    for e in events:
        actor = f" by {e.actor}" if e.actor and USER_ID.match(e.actor) else ""
        text = e.text if actor or not e.actor else f"{e.text}\n(actor: {e.actor})"
        out.append(f"#{e.id} {clock(e.at, day)} {e.kind}{actor}:")
        out.append(fence("event text", text, limit=limit))
    return out


def _who(actor: str) -> str:
    """An actor opsbot recorded itself (a Slack user ID, the console, a playbook), else a
    placeholder: a name from elsewhere is quoted only inside a fence."""
    return actor if _OWN_ACTOR.match(actor) else "someone"
