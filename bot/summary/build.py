"""The two ways to write an incident's summary, each returning a ``SummaryDraft``.

- ``template_summary``: deterministic, no LLM; always works.
- ``llm_summary``: the template, with the narrative parts the LLM wrote that passed the
  citation check. On any ``LLMUnavailable`` (outage, timeout, rate limit past retries,
  malformed output, budget) it returns the template draft and the reason.

Both read only; the caller stores the draft (``incident_summary``) and posts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.catalog.model import Catalog
from bot.clients.llm import LLMClient, LLMUnavailable, TokenBudget
from bot.summary import slack
from bot.summary.doc import Document
from bot.summary.facts import gather
from bot.summary.markdown import markdown
from bot.summary.model import SummaryFacts
from bot.summary.narrative import NarrativeResult, write_narrative
from bot.summary.template import PARTS, TITLES, document, template_sections

if TYPE_CHECKING:
    from bot.clients.prometheus import PromClient


@dataclass(frozen=True)
class SummaryDraft:
    markdown: str  # the export / stored version (GitHub-flavoured Markdown)
    slack_text: str  # fallback text for notifications
    slack_blocks: list[dict[str, Any]]  # valid Block Kit, <= 50 blocks, texts within limits
    # {} for the template; for the LLM: {"parts": {part: [{"text", "cites"}]},
    # "rejected": {part: reason}, "model": str, "tokens": int}
    narrative: dict[str, Any]
    source: str  # "template" | "llm" (llm if at least one part came from the LLM)


def template_summary(
    session: Session,
    incident_id: int,
    catalog: Catalog,
    *,
    prom: PromClient | None = None,
    now: datetime | None = None,
) -> SummaryDraft:
    """The template summary of ``incident_id`` (``LookupError`` if there is no such incident)."""
    facts = gather(session, incident_id, catalog, prom=prom, now=now)
    return draft(facts, document(facts, template_sections(facts)), {}, "template")


def llm_summary(
    session: Session,
    incident_id: int,
    catalog: Catalog,
    llm: LLMClient,
    budget: TokenBudget,
    *,
    prom: PromClient | None = None,
    now: datetime | None = None,
) -> tuple[SummaryDraft, str | None]:
    """``(draft, error)``: the template with the LLM's parts that passed the check.

    ``error`` is None when at least one part came from the LLM. On ``LLMUnavailable`` the draft
    is the template's and ``error`` says why; when every part failed the check, likewise, with
    each part's reason. In both cases ``narrative`` records the attempt (model, tokens spent,
    rejected parts) while the text stays the template's.
    """
    facts = gather(session, incident_id, catalog, prom=prom, now=now)
    sections = template_sections(facts)
    try:
        result = write_narrative(facts, llm, budget)
    except LLMUnavailable as exc:
        attempt = {"parts": {}, "rejected": {}, "model": llm.model, "tokens": budget.spent}
        return draft(facts, document(facts, sections), attempt, "template"), str(exc)
    if not result.sections:
        reasons = "; ".join(f"{part}: {why}" for part, why in result.rejected.items())
        error = f"no part of the LLM's narrative passed the citation check ({reasons})"
        return draft(facts, document(facts, sections), result.as_json(), "template"), error
    doc = document(facts, {**sections, **result.sections}, footer=_llm_footer(facts, result))
    return draft(facts, doc, result.as_json(), "llm"), None


def _llm_footer(facts: SummaryFacts, result: NarrativeResult) -> str:
    written = [TITLES[p] for p in PARTS if p in result.sections]
    kept = [TITLES[p] for p in PARTS if p in result.rejected]
    text = (
        f"Written by opsbot from the records of incident #{facts.incident.id}; [#N] cites "
        f"timeline event N. {', '.join(written)}: drafted by {result.model}, every sentence "
        "checked against the events it cites (#N)."
    )
    if kept:
        text += f" From the template (the draft failed the check): {', '.join(kept)}."
    return text


def draft(
    facts: SummaryFacts, doc: Document, narrative: dict[str, Any], source: str
) -> SummaryDraft:
    text, blocks = slack.render(doc, facts.actors, facts.tracked)
    return SummaryDraft(
        markdown=markdown(doc),
        slack_text=text,
        slack_blocks=blocks,
        narrative=narrative,
        source=source,
    )
