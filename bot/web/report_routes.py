"""``GET /api/v1/report?since=<30d | ISO time>&until=<ISO time>``: reliability KPIs as JSON.

``since`` is a length back from ``until`` (``30d``, ``7d``, ``24h``, ``2w``; 1h to 365d) or an
ISO 8601 time; default 30 days. ``until`` defaults to now. The change-failure window is
``OPSBOT_CHANGE_FAILURE_WINDOW_MIN``. The shape is ``Report.as_json()`` (bot/reports/kpis.py).
Drift coverage reads Prometheus's rules first (``OPSBOT_PROMETHEUS_URL``), outside the database
work; without an answer it says why coverage is unknown, and the rest is reported as usual.
Bearer ``OPSBOT_API_TOKEN``, as the rest of the API: 401 without it, 400 for a bad period.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.reports.drift_coverage import read_rules
from bot.reports.kpis import reliability_report
from bot.reports.period import PeriodError, resolve_period
from bot.runtime import Runtime
from bot.store.types import utcnow
from bot.web.body import api_caller_ok
from bot.web.storage_errors import storage_failure


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def authorised(request: Request) -> bool:
        return api_caller_ok(rt, request)

    @router.get("/report")
    async def report(
        request: Request, since: str | None = None, until: str | None = None
    ) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)
        try:
            start, end = resolve_period(since, until, utcnow())
        except PeriodError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        window = timedelta(minutes=rt.settings.change_failure_window_min)
        rules = await anyio.to_thread.run_sync(read_rules, rt.prom)

        def compute() -> dict[str, Any]:
            with Session(rt.engine) as session:
                return reliability_report(
                    session,
                    since=start,
                    until=end,
                    change_window=window,
                    catalog=rt.catalog,
                    rules=rules,
                ).as_json()

        try:
            body = await anyio.to_thread.run_sync(compute, limiter=rt.db_limiter)
        except SQLAlchemyError as exc:
            return storage_failure("report", "read", exc)
        return JSONResponse(body)

    return router
