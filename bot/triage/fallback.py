"""The answer without an LLM: what enrichment found, as it stands, and the offered playbooks.

Deterministic: the ranked suspects with their reasons, each catalog signal's baseline → now
and whether it deviated, which sources could not answer, and the incident's playbooks as the
root's buttons. Text that came from the world (suspect reasons carry deploy actors and lineage
errors) is redacted and goes through ``safe_mrkdwn``, like the model's words.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.incidents.views import enrichment_view
from bot.render.blocks import SECTION_TEXT_LIMIT, Block, chunk_lines
from bot.store.models import Incident, IncidentStatus
from bot.text.slack_safe import safe_mrkdwn
from bot.text.untrusted import redact
from bot.triage.answer import context, offer_buttons

TOP_SUSPECTS = 3
REASON_LIMIT = 400
PLAYBOOK_BLOCK = "opsbot_triage_playbooks"
NO_LLM = ":robot_face: No LLM: this is opsbot's enrichment, as it stands. Nothing was changed."


def fallback_answer(
    session: Session, incident: Incident, *, note: str | None = None
) -> tuple[str, list[Block]]:
    """``(text, blocks)``: suspects, metrics and playbook buttons for ``incident``."""
    assert incident.id is not None
    view = enrichment_view(session, incident.id)
    sources: dict[str, Any] = view["enrichment"]
    suspects: list[dict[str, Any]] = view["suspects"][:TOP_SUSPECTS]
    blocks: list[Block] = []

    if not sources:
        lines = ["Enrichment has not finished for this incident yet: no suspects or metrics."]
        text = f"#{incident.id}: enrichment has not finished yet"
    elif suspects:
        lines = [
            f"{i}. {_safe(s.get('reason'))} _(score {_score(s.get('score'))})_"
            for i, s in enumerate(suspects, 1)
        ]
        text = f"#{incident.id}: top suspect: {_safe(suspects[0].get('reason'), 200)}"
    else:
        lookback = (sources.get("suspects") or {}).get("data", {}).get("lookback_min")
        window = f"the {lookback} min" if isinstance(lookback, int) else "the window"
        lines = [
            f"Nothing related to the service changed in {window} before the alert: "
            "no suspect is named."
        ]
        text = f"#{incident.id}: nothing related changed before the alert"
    blocks += _section("Suspects — what changed before the alert", lines)

    metric_lines = _metrics(sources.get("metrics"))
    if metric_lines:
        blocks += _section("Metrics (baseline → now)", metric_lines)
    missing = [
        f"{name}: {_safe(s.get('reason') or 'failed', 200)}"
        for name, s in sources.items()
        if s.get("status") == "unavailable"
    ]
    if missing:
        blocks += _section("Unavailable", missing)

    if incident.playbooks and incident.status != IncidentStatus.RESOLVED:
        blocks += _section(
            "Playbooks offered for this incident", ["A click starts one; each step asks approval."]
        )
        blocks.append(offer_buttons(incident, incident.playbooks, PLAYBOOK_BLOCK))
    blocks.append(context(NO_LLM, note))
    return text, blocks[:50]


def _metrics(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics:
        return []
    if metrics.get("status") != "ok":
        return [f"Not read: {_safe(metrics.get('reason') or metrics.get('status'), 200)}"]
    data = metrics.get("data") or {}
    lines = []
    for sig in data.get("signals") or []:
        pct = sig.get("change_pct")
        change = f" ({pct:+.0f}%)" if isinstance(pct, int | float) else ""
        flag = " :warning: deviated" if sig.get("deviated") else ""
        unit = sig.get("unit")
        lines.append(
            f"• *{_safe(sig.get('name'), 64)}* {_fmt(sig.get('baseline'), unit)} → "
            f"{_fmt(sig.get('now'), unit)}{change}{flag}"
        )
    for name, why in (data.get("errors") or {}).items():
        lines.append(f"• *{_safe(name, 64)}* unavailable: {_safe(why, 200)}")
    return lines


def _section(title: str, lines: list[str]) -> list[Block]:
    chunks = chunk_lines([f"*{title}*", *lines], SECTION_TEXT_LIMIT)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def _safe(value: Any, limit: int = REASON_LIMIT) -> str:
    return safe_mrkdwn(redact(str(value if value is not None else "")), limit=limit)


def _score(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "n/a"


def _fmt(value: Any, unit: Any) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    text = f"{value:.3g}"
    return f"{text} {_safe(unit, 20)}" if unit else text
