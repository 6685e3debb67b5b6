"""Writes the summaries that were asked for, in the background, and queues them for the thread.

    queued ──template──> ready, posted (or redrawn) ──LLM (when configured)──> redrawn

The template goes out first and on its own: it needs only the database (and Prometheus for the
prediction volume, within its client's timeout), so the thread gets its summary seconds after
the resolve however slow or broken the LLM is. The LLM's version is written afterwards, in its
own task, and replaces the template in place (one ``chat.update``) when it passes the citation
check; otherwise the template stays and ``llm_error`` says why.

The worker polls for ``queued`` rows (an indexed query every ``POLL_S``): a resolve in any process
(webhook, command, another replica) is picked up without a signal. Each pass also starts the LLM
version of summaries whose template was written elsewhere (``/ops summary``) or before a
restart. Two replicas may both write an LLM version; the generation check keeps the row
consistent, and the thread gets at most one extra edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.catalog.model import Catalog
from bot.logs import about
from bot.outbox.queue import enqueue_summary
from bot.store.engine import session_scope
from bot.store.models import Incident, OutboxKind
from bot.store.summary_models import IncidentSummary, LLMState, SummarySource, SummaryState
from bot.store.types import utcnow
from bot.summary.requests import summary_of

if TYPE_CHECKING:
    from bot.clients.llm import LLMClient
    from bot.clients.prometheus import PromClient


log = logging.getLogger(__name__)

POLL_S = 1.0
LLM_CONCURRENCY = 2


class SummaryWorker:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        *,
        on_saved: Callable[[], None],
        llm: LLMClient | None = None,  # None: templates only
        prom: PromClient | None = None,
        token_budget: int = 12000,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.on_saved = on_saved
        self.llm = llm
        self.prom = prom
        self.token_budget = token_budget
        self._llm_slots = asyncio.Semaphore(LLM_CONCURRENCY)
        self._llm_tasks: set[asyncio.Task[None]] = set()
        self._llm_in_flight: set[tuple[int, int]] = set()  # (incident, generation)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                    # Templates written elsewhere (``/ops summary``) or before a restart.
                    self._resume_llm(await anyio.to_thread.run_sync(self._llm_pending))
                except Exception:
                    log.exception("summary worker pass failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=POLL_S)
        finally:
            if self._llm_tasks:
                await asyncio.wait(self._llm_tasks, timeout=5)

    async def run_once(self) -> int:
        """Write every queued summary's template; start its LLM version. How many were written."""
        written = 0
        for incident_id in await anyio.to_thread.run_sync(self._queued):
            generation = await anyio.to_thread.run_sync(self.write_template, incident_id)
            if generation is None:
                continue
            written += 1
            self.on_saved()
            if self.llm is not None:
                self._resume_llm([(incident_id, generation)])
        return written

    async def wait_llm(self) -> None:
        """Until the LLM versions started so far are written (tests, shutdown)."""
        while self._llm_tasks:
            await asyncio.wait(set(self._llm_tasks))

    # -- template --------------------------------------------------------------------------

    def write_template(self, incident_id: int) -> int | None:
        """Render the template for a queued summary and queue it; the generation written."""
        from bot.summary.build import template_summary

        with Session(self.engine) as session:
            summary = summary_of(session, incident_id)
            if summary is None or summary.state != SummaryState.QUEUED:
                return None
            generation = summary.generation
            try:
                draft = template_summary(session, incident_id, self.catalog, prom=self.prom)
            except Exception:
                log.exception("incident %s: the summary template failed", incident_id)
                draft = None
        with session_scope(self.engine) as session:
            summary = summary_of(session, incident_id)
            incident = session.get(Incident, incident_id)
            if summary is None or incident is None or summary.generation != generation:
                return None  # asked again meanwhile: the next pass writes the newer one
            summary.state = SummaryState.READY
            summary.updated_at = utcnow()
            if draft is None:
                summary.llm_state = LLMState.OFF
                summary.llm_error = "the template could not be rendered (see the log)"
                session.add(summary)
                return None
            summary.source = SummarySource.TEMPLATE
            summary.markdown = draft.markdown
            summary.slack_text = draft.slack_text
            summary.slack_blocks = draft.slack_blocks
            summary.narrative = {}
            summary.llm_state = LLMState.PENDING if self.llm is not None else LLMState.OFF
            summary.llm_error = None
            session.add(summary)
            kind = OutboxKind.SUMMARY_UPDATE if summary.message_ts else OutboxKind.SUMMARY_POST
            enqueue_summary(session, incident, kind)
            return generation

    # -- LLM -------------------------------------------------------------------------------

    def _resume_llm(self, pending: list[tuple[int, int]]) -> None:
        for key in pending:
            if key in self._llm_in_flight:
                continue
            self._llm_in_flight.add(key)
            task = asyncio.create_task(self._llm_one(*key))
            self._llm_tasks.add(task)
            task.add_done_callback(self._llm_tasks.discard)

    async def _llm_one(self, incident_id: int, generation: int) -> None:
        try:
            async with self._llm_slots:
                with about(incident_id=incident_id):
                    changed = await anyio.to_thread.run_sync(
                        self.write_llm, incident_id, generation, abandon_on_cancel=True
                    )
            if changed:
                self.on_saved()
        except Exception:
            log.exception("incident %s: the LLM summary failed; the template stays", incident_id)
        finally:
            self._llm_in_flight.discard((incident_id, generation))

    def write_llm(self, incident_id: int, generation: int) -> bool:
        """Write the LLM's version of a summary; True when the thread's message changes."""
        from bot.clients.llm import TokenBudget
        from bot.summary.build import llm_summary

        if self.llm is None:  # only asked for when one is configured
            return False
        with Session(self.engine) as session:
            draft, error = llm_summary(
                session,
                incident_id,
                self.catalog,
                self.llm,
                TokenBudget(self.token_budget),
                prom=self.prom,
            )
        with session_scope(self.engine) as session:
            summary = summary_of(session, incident_id)
            incident = session.get(Incident, incident_id)
            if summary is None or incident is None or summary.generation != generation:
                return False
            summary.updated_at = utcnow()
            summary.llm_tokens = int(draft.narrative.get("tokens") or 0)
            summary.llm_error = error
            if error is not None or draft.source != SummarySource.LLM:
                summary.llm_state = LLMState.FALLBACK
                summary.narrative = draft.narrative
                session.add(summary)
                log.info("incident %s: LLM summary not used: %s", incident_id, error)
                return False
            summary.llm_state = LLMState.DONE
            summary.source = SummarySource.LLM
            summary.markdown = draft.markdown
            summary.slack_text = draft.slack_text
            summary.slack_blocks = draft.slack_blocks
            summary.narrative = draft.narrative
            session.add(summary)
            enqueue_summary(session, incident, OutboxKind.SUMMARY_UPDATE)
            return True

    # -- queries ---------------------------------------------------------------------------

    def _queued(self) -> list[int]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(IncidentSummary.incident_id)
                    .where(IncidentSummary.state == SummaryState.QUEUED)
                    .order_by(col(IncidentSummary.updated_at))
                    .limit(50)
                ).all()
            )

    def _llm_pending(self) -> list[tuple[int, int]]:
        if self.llm is None:
            return []
        with Session(self.engine) as session:
            rows = session.exec(
                select(IncidentSummary.incident_id, IncidentSummary.generation).where(
                    IncidentSummary.state == SummaryState.READY,
                    IncidentSummary.llm_state == LLMState.PENDING,
                )
            ).all()
            return [(i, g) for i, g in rows]
