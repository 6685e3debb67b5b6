"""``POST /webhooks/alertmanager`` and ``POST /webhooks/pagerduty``.

Order of checks: authentication (401) → size (413) → JSON and schema (400, ``bot.intake``) →
store (400 when the database refuses a value, 503 only when it is unavailable; Alertmanager and
PagerDuty retry every 5xx: ``bot/web/storage_errors.py``) → 200 with what was stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.errors import IntakeError
from bot.incidents import alertmanager_flow, pagerduty_flow
from bot.intake.alertmanager_schema import AMPayload
from bot.intake.json_body import parse_model
from bot.intake.pagerduty_schema import PDWebhook, signature_valid
from bot.runtime import Runtime
from bot.web.body import bearer_ok, read_capped
from bot.web.storage_errors import delivery_key, storage_failure

log = logging.getLogger(__name__)
T = TypeVar("T")


def _error(status: int, reason: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers or None)


def _peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _log_stored(source: str, delivery_id: object, alerts: int, incidents: Sequence[int]) -> None:
    """One line per incident a delivery touched (INFO), or one DEBUG line when it touched none;
    ``delivery_id`` and ``incident_id`` are fields of the line (``OPSBOT_LOG_FORMAT=json``)."""
    if not incidents:
        log.debug(
            "%s delivery stored: %d alert(s), no incident changed",
            source,
            alerts,
            extra={"delivery_id": delivery_id},
        )
    for incident_id in incidents:
        log.info(
            "%s delivery stored: incident %s changed",
            source,
            incident_id,
            extra={"delivery_id": delivery_id, "incident_id": incident_id},
        )


Handler = Callable[[Request], Awaitable[JSONResponse]]
ALERTMANAGER_PATH = "/webhooks/alertmanager"
PAGERDUTY_PATH = "/webhooks/pagerduty"


def make_router(rt: Runtime) -> APIRouter:
    """The two routes; their POSTs are answered before FastAPI's routing by the same handlers
    (``bot/web/webhook_fast_path.py``)."""
    router = APIRouter()
    for path, handler in webhook_handlers(rt).items():
        router.add_api_route(path, handler, methods=["POST"])
    return router


def webhook_handlers(rt: Runtime) -> dict[str, Handler]:
    """``POST`` path → handler: a Starlette request in, the JSON answer out."""
    metrics = rt.metrics
    limit = rt.settings.max_body_bytes

    async def store(work: Callable[[Session], T], lock: str | None = None) -> T:
        """Store one delivery, in one transaction with the deliveries that arrive with it
        (``bot/store/group_commit.py``); answered once that transaction has committed."""
        with rt.pressure.busy():
            return await rt.committer.run(work, lock=lock)

    def not_stored(source: str, delivery: str, exc: SQLAlchemyError) -> JSONResponse:
        # Never a 2xx for something not stored.
        response = storage_failure(source, delivery, exc)
        metrics.webhook_rejected.labels(source, str(response.status_code)).inc()
        return response

    async def alertmanager(request: Request) -> JSONResponse:
        source = "alertmanager"
        token = rt.settings.alertmanager_token
        if not bearer_ok(
            request.headers.get("authorization"), token.get_secret_value() if token else None
        ):
            metrics.webhook_rejected.labels(source, "unauthorized").inc()
            log.warning("alertmanager webhook refused: bad bearer token from %s", _peer(request))
            return _error(401, "missing or invalid bearer token", **{"WWW-Authenticate": "Bearer"})
        try:
            raw = await read_capped(request, limit)
            payload = parse_model(AMPayload, raw)
        except IntakeError as exc:
            metrics.webhook_rejected.labels(source, str(exc.status)).inc()
            return _error(exc.status, exc.reason)
        try:
            result = await store(
                lambda s: alertmanager_flow.ingest(
                    s, payload, raw, rt.incident_channel, rt.catalog
                ),
                alertmanager_flow.group_lock(payload),
            )
        except SQLAlchemyError as exc:
            return not_stored(source, delivery_key(raw), exc)
        metrics.alerts_received.labels(source).inc(result.alerts_received)
        if result.alerts_deduplicated:
            metrics.alerts_deduplicated.labels(source).inc(result.alerts_deduplicated)
        if result.incidents_opened:
            metrics.incidents_opened.labels(source).inc(len(result.incidents_opened))
        if result.incidents_resolved:
            metrics.incidents_resolved.labels(source).inc(len(result.incidents_resolved))
        if result.incidents_touched:
            rt.sender.wake()
        for incident_id in result.incidents_opened:
            rt.enrichment.submit(incident_id)
        _log_stored(source, result.delivery_id, result.alerts_received, result.incidents_touched)
        return JSONResponse({"status": "stored", **result.as_json()})

    async def pagerduty(request: Request) -> JSONResponse:
        source = "pagerduty"
        secret = rt.settings.pagerduty_webhook_secret
        try:
            raw = await read_capped(request, limit)
        except IntakeError as exc:
            metrics.webhook_rejected.labels(source, str(exc.status)).inc()
            return _error(exc.status, exc.reason)
        if secret is None or not signature_valid(
            secret.get_secret_value(), raw, request.headers.get("x-pagerduty-signature")
        ):
            metrics.webhook_rejected.labels(source, "unauthorized").inc()
            log.warning("pagerduty webhook refused: bad signature from %s", _peer(request))
            return _error(401, "missing or invalid X-PagerDuty-Signature")
        try:
            webhook = parse_model(PDWebhook, raw)
        except IntakeError as exc:
            metrics.webhook_rejected.labels(source, str(exc.status)).inc()
            return _error(exc.status, exc.reason)
        try:
            result = await store(
                lambda s: pagerduty_flow.ingest(s, webhook.event, raw, rt.incident_channel)
            )
        except SQLAlchemyError as exc:
            return not_stored(source, webhook.event.id[:64], exc)
        if result.duplicate:
            metrics.alerts_deduplicated.labels(source).inc()
        if result.opened:
            metrics.incidents_opened.labels(source).inc()
        if result.resolved:
            metrics.incidents_resolved.labels(source).inc()
        if result.incident_id is not None:
            rt.sender.wake()
        touched = [] if result.incident_id is None else [result.incident_id]
        _log_stored(source, result.delivery_id, 0 if result.duplicate else 1, touched)
        return JSONResponse(
            {
                "status": "stored",
                "delivery_id": result.delivery_id,
                "duplicate": result.duplicate,
                "incident_id": result.incident_id,
                "ignored": result.ignored,
            }
        )

    return {ALERTMANAGER_PATH: alertmanager, PAGERDUTY_PATH: pagerduty}
