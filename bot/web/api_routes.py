"""The JSON API: ``POST /api/v1/deployments``, ``GET /api/v1/incidents[/{id}]``.

Bearer ``OPSBOT_API_TOKEN``; without a configured token every request is refused.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.changes import deployments as deployments_store
from bot.changes.deployments import DeployEvent
from bot.errors import IntakeError
from bot.incidents.queries import list_incidents
from bot.incidents.views import incident_detail, incident_summary
from bot.intake.json_body import parse_model
from bot.runtime import Runtime
from bot.store.models import Incident
from bot.store.tx import run_tx
from bot.web.body import api_caller_ok, read_capped
from bot.web.storage_errors import delivery_key, storage_failure

STATUSES = ("open", "resolved", "all")
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL): a larger one cannot exist
DEPLOY_BODY_LIMIT = 64 * 1024


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def authorised(request: Request) -> bool:
        return api_caller_ok(rt, request)

    async def read(work: Any) -> JSONResponse:
        def run() -> tuple[int, Any]:
            with Session(rt.engine) as session:
                return work(session)  # type: ignore[no-any-return]

        try:
            status, body = await anyio.to_thread.run_sync(run, limiter=rt.db_limiter)
        except SQLAlchemyError as exc:
            return storage_failure("api", "read", exc)
        return JSONResponse(body, status_code=status)

    @router.post("/deployments")
    async def deployments(request: Request) -> JSONResponse:
        """A deploy event from CI/CD: 201 when stored, 200 when it was already stored."""
        if not authorised(request):
            return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)
        try:
            raw = await read_capped(request, DEPLOY_BODY_LIMIT)
            event = parse_model(DeployEvent, raw)
        except IntakeError as exc:
            rt.metrics.webhook_rejected.labels("deployments", str(exc.status)).inc()
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        try:
            deployment_id, created = await anyio.to_thread.run_sync(
                run_tx,
                rt.engine,
                lambda s: deployments_store.record(s, event),
                limiter=rt.db_limiter,
            )
        except SQLAlchemyError as exc:
            return storage_failure("deployments", delivery_key(raw), exc)
        return JSONResponse(
            {"id": deployment_id, "created": created}, status_code=201 if created else 200
        )

    @router.get("/incidents")
    async def incidents(request: Request, status: str = "open", limit: int = 50) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)
        if status not in STATUSES:
            return JSONResponse(
                {"error": f"status must be one of {', '.join(STATUSES)}"}, status_code=400
            )
        if not 1 <= limit <= 500:
            return JSONResponse({"error": "limit must be between 1 and 500"}, status_code=400)
        return await read(
            lambda s: (
                200,
                {
                    "incidents": [
                        incident_summary(s, i)
                        for i in list_incidents(s, status=status, limit=limit)
                    ]
                },
            )
        )

    @router.get("/incidents/{incident_id}")
    async def incident(request: Request, incident_id: int) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)

        if not 1 <= incident_id <= MAX_ID:
            return JSONResponse({"error": f"no incident {incident_id}"}, status_code=404)

        def detail(s: Session) -> tuple[int, Any]:
            found = s.get(Incident, incident_id)
            if found is None:
                return 404, {"error": f"no incident {incident_id}"}
            return 200, incident_detail(s, found)

        return await read(detail)

    return router
