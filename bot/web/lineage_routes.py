"""``POST /api/v1/lineage``: OpenLineage run events, as the openlineage-python HTTP transport sends
them (``Authorization: Bearer <api key>``, JSON, optionally ``Content-Encoding: gzip``).

201 stored · 200 already stored (``"duplicate": true``) · 202 a static DatasetEvent or JobEvent,
not stored · 400 not a valid run event (the reason says where) · 401 no or wrong bearer
``OPSBOT_API_TOKEN`` · 413 body, or gzip body once inflated, over 1 MiB · 415 not JSON, or an
encoding other than gzip · 503 only when the database is unavailable (the client retries 5xx;
see ``bot/web/storage_errors.py``).

A COMPLETE event that makes a watched dataset fresh again resolves its freshness incident in the
same transaction (``bot/incidents/freshness_flow.py``).
"""

from __future__ import annotations

import zlib

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.errors import IntakeError
from bot.incidents.freshness_flow import settle_after_run
from bot.lineage import store
from bot.lineage.schema import parse_event
from bot.runtime import Runtime
from bot.store.tx import run_tx
from bot.store.types import utcnow
from bot.web.body import bearer_ok, read_capped
from bot.web.storage_errors import storage_failure

LINEAGE_BODY_LIMIT = 1024 * 1024  # facets (schemas, column metrics) can be large


def check_content_type(header: str | None) -> None:
    media = (header or "").partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise IntakeError(415, f"expected Content-Type application/json, got {media or 'none'}")


def inflate(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """The body with its ``Content-Encoding`` undone; ``IntakeError(413)`` past ``limit``
    inflated bytes, however small the compressed body (a zip bomb stops at the cap)."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return raw
    if coding not in ("gzip", "x-gzip"):
        raise IntakeError(415, f"unsupported Content-Encoding {coding!r}: use gzip or none")
    out = bytearray()
    rest = raw
    try:
        while rest:  # concatenated gzip members are one valid gzip body
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += inflater.decompress(rest, limit + 1 - len(out))
            if len(out) > limit:
                raise IntakeError(413, f"body over {limit} bytes once decompressed")
            if not inflater.eof:
                raise IntakeError(400, "truncated gzip body")
            rest = inflater.unused_data
    except zlib.error as exc:
        raise IntakeError(400, f"invalid gzip body: {exc}") from None
    return bytes(out)


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def refuse(reason: str, status: int, error: str) -> JSONResponse:
        rt.metrics.webhook_rejected.labels("lineage", reason).inc()
        return JSONResponse({"error": error}, status_code=status)

    @router.post("/lineage")
    async def lineage(request: Request) -> JSONResponse:
        """An OpenLineage run event: 201 stored, 200 when the same event was already stored."""
        token = rt.settings.api_token
        if not bearer_ok(
            request.headers.get("authorization"), token.get_secret_value() if token else None
        ):
            return refuse("unauthorized", 401, "missing or invalid bearer token")
        try:
            check_content_type(request.headers.get("content-type"))
            raw = await read_capped(request, LINEAGE_BODY_LIMIT)
            body = inflate(raw, request.headers.get("content-encoding"), LINEAGE_BODY_LIMIT)
            event = parse_event(body)
        except IntakeError as exc:
            return refuse(str(exc.status), exc.status, exc.reason)
        if event is None:
            return JSONResponse(
                {"ignored": True, "reason": "static DatasetEvent/JobEvent: only run events kept"},
                status_code=202,
            )

        def work(session: Session) -> tuple[store.Recorded, list[int]]:
            done = store.record(session, event)
            if done.duplicate or done.state != "COMPLETE":
                return done, []
            # A success ends its datasets' staleness now, not at the next freshness check.
            fresh = settle_after_run(
                session, rt.catalog, done.run_id, utcnow(), rt.incident_channel
            )
            return done, fresh

        try:
            done, fresh = await anyio.to_thread.run_sync(
                run_tx, rt.engine, work, limiter=rt.db_limiter
            )
        except SQLAlchemyError as exc:
            return storage_failure("lineage", f"run {event.run_id}", exc)
        if fresh:
            rt.metrics.incidents_resolved.labels("freshness").inc(len(fresh))
            rt.sender.wake()
        return JSONResponse(
            {
                "run_id": done.run_id,
                "event_type": done.event_type,
                "job": done.job,
                "state": done.state,
                "duplicate": done.duplicate,
                "changes": done.changes,
            },
            status_code=200 if done.duplicate else 201,
        )

    return router
