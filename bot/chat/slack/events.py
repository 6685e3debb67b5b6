"""Events: the timeline emoji on a thread message pins it to the timeline; an @mention gets a
read-only triage answer in its thread."""

from __future__ import annotations

from typing import Any

import anyio
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.incidents.notes import pin_message, record_question
from bot.runtime import Runtime
from bot.triage.mention import answer_now, answer_with_llm


def register(app: AsyncApp, rt: Runtime) -> None:
    settings = rt.settings

    @app.event("reaction_added")
    async def reaction_added(event: dict[str, Any], client: AsyncWebClient) -> None:
        # The timeline emoji on a message in an incident's thread puts it on the timeline.
        if event.get("reaction") != settings.timeline_emoji:
            return
        item = event.get("item") or {}
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        if item.get("type") != "message" or not channel or not ts:
            return
        found = await client.conversations_replies(
            channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=1
        )
        message = next((m for m in found.get("messages") or [] if m.get("ts") == ts), None)
        if message is None:
            return
        await anyio.to_thread.run_sync(
            lambda: pin_message(
                rt.engine,
                channel=channel,
                thread_ts=str(message.get("thread_ts") or ts),
                message_ts=ts,
                text=str(message.get("text") or ""),
                author=message.get("user") or message.get("bot_id"),
                actor=str(event.get("user") or "?"),
            )
        )

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], client: AsyncWebClient) -> None:
        # "@opsbot why is fraud-scorer slow?": read-only triage, answered in the thread. The
        # deterministic answer goes at once (the asker sees something within a second or two
        # whatever the model does); the LLM's answer, when one is asked, replaces it.
        channel = str(event.get("channel") or "")
        thread_ts = event.get("thread_ts")
        user = str(event.get("user") or "?")
        text = str(event.get("text") or "")
        now = await anyio.to_thread.run_sync(
            lambda: answer_now(
                rt.engine, rt.catalog, channel=channel, thread_ts=thread_ts, text=text, llm=rt.llm
            )
        )
        posted = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts or event.get("ts"),
            text=now.text,
            blocks=now.blocks,
        )
        answer = now
        if now.follows and rt.llm is not None and now.incident_id is not None:
            llm, asked_about = rt.llm, now.incident_id
            answer = await anyio.to_thread.run_sync(
                lambda: answer_with_llm(
                    rt.engine,
                    rt.catalog,
                    incident_id=asked_about,
                    user=user,
                    text=text,
                    llm=llm,
                    prom=rt.prom,
                    token_budget=settings.llm_token_budget,
                )
            )
            await client.chat_update(
                channel=str(posted.get("channel") or channel),
                ts=str(posted["ts"]),
                text=answer.text,
                blocks=answer.blocks,
            )
        incident_id = answer.incident_id
        if incident_id is not None:
            await anyio.to_thread.run_sync(
                lambda: record_question(
                    rt.engine,
                    incident_id,
                    user=user,
                    question=text,
                    answered_with="llm" if answer.used_llm else "enrichment",
                )
            )
