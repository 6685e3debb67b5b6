"""``/healthz`` (the process answers), ``/readyz`` (the database answers, and the replica is not
draining; with an LLM, what its server supports as learned so far), ``/metrics`` (with
``opsbot_ready``, the same answer as a gauge, and the gauges read from the database at scrape
time: ``bot.telemetry``)."""

from __future__ import annotations

import contextlib

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.fleet.coordinator import KINDS
from bot.outbox.queue import outbox_depth
from bot.runtime import Runtime


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter()

    def _ping() -> None:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _depth() -> int:
        with Session(rt.engine) as session:
            return outbox_depth(session)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        fleet = {"replica": rt.fleet.replica, "leads": rt.fleet.leading()}
        if rt.draining:
            return JSONResponse({"status": "draining", **fleet}, status_code=503)
        try:
            await anyio.to_thread.run_sync(_ping)
        except SQLAlchemyError as exc:
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        ready: dict[str, object] = {"status": "ready", "database": "ok", **fleet}
        if rt.llm is not None:
            # What the LLM server has shown it supports (tool calls, structured output, the
            # output cap's field): learned from its answers, for the life of the process.
            ready["llm"] = rt.llm.support.as_json()
        return JSONResponse(ready)

    @router.get("/metrics")
    async def metrics() -> Response:
        # On a database error keep serving the last known depth; /readyz reports the database.
        if rt.state is not None:
            # Bounded: a slow database leaves its gauges out of this scrape (bot.telemetry).
            state = await rt.state.refresh(draining=rt.draining)
            if state is not None:
                rt.metrics.outbox_depth.set(state.outbox_depth)
        else:
            with contextlib.suppress(SQLAlchemyError):
                rt.metrics.outbox_depth.set(await anyio.to_thread.run_sync(_depth))
        leading = set(rt.fleet.leading())
        for kind in KINDS:
            rt.metrics.fleet_leader.labels(kind).set(1 if kind in leading else 0)
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
