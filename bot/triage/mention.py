"""``@opsbot <question>``: the entry point Bolt's ``app_mention`` listener calls (in a thread).

In an incident's thread (the root's channel and ``ts``), the question goes to the triage agent
when an LLM is configured, and to the deterministic enrichment answer otherwise, or when the
LLM fails. Anywhere else the answer says how to use it, with the recent changes of a catalog
service the question names. Nothing here writes to the database.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog, Service
from bot.clients.llm import AnswerCutOff, BudgetExceeded, LLMClient, LLMUnavailable, TokenBudget
from bot.enrich.change_sources import service_changes
from bot.render.blocks import Block
from bot.store.models import Incident, TimelineEvent
from bot.store.types import utcnow
from bot.text.slack_safe import safe_mrkdwn
from bot.triage.agent import run_triage
from bot.triage.answer import context, render_answer
from bot.triage.fallback import fallback_answer
from bot.triage.tools import TriageScope

if TYPE_CHECKING:
    from bot.clients.prometheus import PromClient


log = logging.getLogger(__name__)

# The bot's own mention at the start: "<@U0BOT> why…" or "<@U0BOT|opsbot>: why…"
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
OUTSIDE_LOOKBACK = timedelta(hours=24)
OUTSIDE_CHANGES = 8

HELP = (
    ":wave: Mention me in an incident's thread with a question, e.g. "
    "`@opsbot why is fraud-scorer slow?`. I read the incident's timeline, suspects, changes, "
    "catalog metrics, deploys and jobs, and may suggest one of its playbooks as a button; "
    "I never change anything myself."
)
LLM_DOWN = ":warning: The LLM was not reachable, so this is opsbot's enrichment as it stands."
LLM_BUDGET = ":warning: The LLM's token budget for this question ran out; this is the enrichment."
LLM_SILENT = ":warning: The LLM gave no answer within its tool rounds; this is the enrichment."
LLM_CAPPED = ":hourglass: The LLM stopped at its limit of tool rounds."
LLM_FAILED = ":warning: The LLM's answer failed, so this is opsbot's enrichment."
LLM_CUT_OFF = (
    ":warning: The LLM's answer ran past its length limit, so this is opsbot's enrichment."
)
LLM_UNREAD = (
    ":warning: The LLM answered without reading any evidence, so this is opsbot's enrichment."
)
LLM_NO_TOOLS = (
    ":information_source: The LLM server does not support tool calls, so this is opsbot's "
    "enrichment."
)
WORKING = ":hourglass_flowing_sand: Working on it… the LLM's answer will replace this message."


@dataclass(frozen=True)
class MentionAnswer:
    text: str
    blocks: list[dict[str, Any]]
    incident_id: int | None
    used_llm: bool
    proposed: str | None  # the playbook offered as a button under the answer
    follows: bool = False  # the LLM is asked next; its answer replaces this one


def answer_now(
    engine: Engine,
    catalog: Catalog,
    *,
    channel: str,
    thread_ts: str | None,
    text: str,
    llm: LLMClient | None,
) -> MentionAnswer:
    """The reply posted at once, whatever the LLM will do: the deterministic answer (the
    enrichment's suspects and metrics, or how to use triage outside an incident), marked as
    "working on it" when the LLM is asked next (``follows``)."""
    question = strip_mention(text)
    with Session(engine) as session:
        incident = _incident_of(session, channel, thread_ts)
        if incident is None:
            reply, blocks = outside_incident(session, catalog, question)
            return MentionAnswer(reply, blocks, None, used_llm=False, proposed=None)
        assert incident.id is not None
        tools_off = llm is not None and llm.support.tools is False
        note = LLM_NO_TOOLS if tools_off else None
        reply, blocks = fallback_answer(session, incident, note=note)
    follows = llm is not None and not tools_off
    if follows:
        blocks = [*blocks, context(WORKING)]
    return MentionAnswer(reply, blocks, incident.id, used_llm=False, proposed=None, follows=follows)


def answer_with_llm(
    engine: Engine,
    catalog: Catalog,
    *,
    incident_id: int,
    user: str,
    text: str,
    llm: LLMClient,
    prom: PromClient | None = None,
    token_budget: int = 12000,
) -> MentionAnswer:
    """What replaces ``answer_now``'s reply: the model's answer, or, when the LLM failed or
    read nothing, the deterministic answer again with the reason it could not improve on it."""
    question = strip_mention(text)
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        allowed = _allowed_users(session, incident_id, user)
    scope = TriageScope(engine=engine, catalog=catalog, prom=prom, incident_id=incident_id)
    note: str | None = None
    try:
        result = run_triage(
            llm, scope, incident, question=question, budget=TokenBudget(token_budget)
        )
    except BudgetExceeded as exc:
        log.warning("triage incident=%s: token budget ran out: %s", incident_id, exc.detail)
        note = LLM_BUDGET
    except LLMUnavailable as exc:
        log.warning("triage incident=%s: LLM unavailable: %s", incident_id, exc.detail)
        if llm.support.tools is False:
            note = LLM_NO_TOOLS
        elif isinstance(exc, AnswerCutOff):
            note = LLM_CUT_OFF
        elif exc.status == 200:
            note = LLM_FAILED  # it answered, with nothing usable
        else:
            note = LLM_DOWN
    except Exception:
        # A "Working on it…" message must never be left as it is: whatever broke, the edit says
        # the LLM gave nothing and keeps the enrichment.
        log.exception("triage incident=%s: failed", incident_id)
        note = LLM_FAILED
    else:
        if result.text is None:
            note = LLM_SILENT
        elif result.rounds == 0:
            # An answer that read no evidence is not one: opsbot's answers rest on what it read.
            llm.support.answered_unread()
            note = LLM_UNREAD
    if note is not None:
        with Session(engine) as session:
            reply, blocks = fallback_answer(session, incident, note=note)
        return MentionAnswer(reply, blocks, incident_id, used_llm=False, proposed=None)
    assert result.text is not None
    reply, blocks, offered = render_answer(
        incident,
        result.text,
        used=result.used,
        proposal=result.proposal,
        allowed_users=allowed,
        note=LLM_CAPPED if result.capped else None,
    )
    return MentionAnswer(reply, blocks, incident_id, used_llm=True, proposed=offered)


def answer_mention(
    engine: Engine,
    catalog: Catalog,
    *,
    channel: str,
    thread_ts: str | None,
    user: str,
    text: str,
    llm: LLMClient | None,
    prom: PromClient | None = None,
    token_budget: int = 12000,
) -> MentionAnswer:
    """The final reply to ``text`` (the mention's text, the bot's own mention included) by
    ``user`` in ``channel``, in the thread of ``thread_ts`` (None outside a thread): the
    model's answer when it is asked, else the deterministic one. Slack gets ``answer_now``'s
    reply first and this one as its edit (``bot/chat/slack/events.py``)."""
    now = answer_now(engine, catalog, channel=channel, thread_ts=thread_ts, text=text, llm=llm)
    if not now.follows or llm is None or now.incident_id is None:
        return now
    return answer_with_llm(
        engine,
        catalog,
        incident_id=now.incident_id,
        user=user,
        text=text,
        llm=llm,
        prom=prom,
        token_budget=token_budget,
    )


def strip_mention(text: str) -> str:
    """The question without the bot's mention in front."""
    return _LEADING_MENTION.sub("", text or "", count=1).strip()


def outside_incident(session: Session, catalog: Catalog, question: str) -> tuple[str, list[Block]]:
    """How to use triage, and the recent changes of a catalog service the question names."""
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": HELP}}]
    service = _named_service(catalog, question)
    if service is None:
        return "Mention me in an incident's thread with a question.", blocks
    lines = _recent_changes(session, service)
    heading = f"*Changes of {safe_mrkdwn(service.name, limit=128)} in the last 24 h*"
    body = "\n".join([heading, *lines]) if lines else f"{heading}\nNone recorded."
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}})
    blocks.append(context(":mag: From deploy events and lineage. Nothing was changed."))
    return f"Changes of {safe_mrkdwn(service.name, limit=128)} in the last 24 h", blocks


def _incident_of(session: Session, channel: str, thread_ts: str | None) -> Incident | None:
    if not thread_ts:
        return None
    return session.exec(
        select(Incident)
        .where(Incident.slack_channel == channel, Incident.slack_ts == thread_ts)
        .order_by(col(Incident.id).desc())
    ).first()


def _allowed_users(session: Session, incident_id: int, asker: str) -> set[str]:
    """Who the answer may mention: the people on the incident's timeline, and the asker."""
    actors = session.exec(
        select(TimelineEvent.actor).where(TimelineEvent.incident_id == incident_id).distinct()
    ).all()
    return {a for a in [*actors, asker] if a and _SLACK_USER.match(a)}


def _named_service(catalog: Catalog, question: str) -> Service | None:
    lowered = question.lower()
    for name in sorted(catalog.services, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", lowered):
            return catalog.services[name]
    return None


def _recent_changes(session: Session, service: Service) -> list[str]:
    until = utcnow()
    since = until - OUTSIDE_LOOKBACK
    events = service_changes(session, service.name, service, since, until, limit=OUTSIDE_CHANGES)
    return [
        f"• {c.at:%H:%M} UTC {safe_mrkdwn(c.summary, limit=300)}" for c in events[:OUTSIDE_CHANGES]
    ]
