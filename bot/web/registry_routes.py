"""``POST /webhooks/mlflow``: MLflow Model Registry webhooks (``bot/registry/``).

Order of checks: size (413) → signature (401: ``X-MLflow-Signature`` over the delivery id, the
timestamp and the body, with ``OPSBOT_MLFLOW_WEBHOOK_SECRET``, and ``X-MLflow-Timestamp`` within
5 minutes; no secret set: every delivery refused) → JSON, schema and the event's data (400) →
store (400 when the database refuses a value, 503 only when it is unavailable: MLflow retries
5xx) → 200: ``recorded`` with the change in words, ``duplicate`` for a delivery id seen before
(nothing new stored), ``ignored`` for an event opsbot does not record (kept in the inbox).
"""

from __future__ import annotations

import logging
import time

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import IntakeError
from bot.intake.json_body import parse_model
from bot.intake.mlflow_schema import MAX_SKEW_S, MLflowDelivery, signature_valid
from bot.registry.intake import SOURCE, change_of, ingest
from bot.runtime import Runtime
from bot.store.tx import run_tx
from bot.web.body import read_capped
from bot.web.storage_errors import storage_failure

log = logging.getLogger(__name__)

MAX_DELIVERY_ID = 128  # the inbox's dedupe key; MLflow sends a UUID
UNSIGNED = (
    "missing, invalid or stale X-MLflow-Signature: v1 HMAC-SHA256 of the delivery id, the "
    f"timestamp and the body with the webhook's secret, X-MLflow-Timestamp within {MAX_SKEW_S} s"
)


def make_router(rt: Runtime) -> APIRouter:
    router = APIRouter()
    metrics = rt.metrics

    def refused(status: int, reason: str, label: str | None = None) -> JSONResponse:
        metrics.webhook_rejected.labels(SOURCE, label or str(status)).inc()
        return JSONResponse({"error": reason}, status_code=status)

    @router.post("/webhooks/mlflow")
    async def mlflow(request: Request) -> JSONResponse:
        secret = rt.settings.mlflow_webhook_secret
        key = secret.get_secret_value() if secret is not None else ""
        try:
            raw = await read_capped(request, rt.settings.max_body_bytes)
        except IntakeError as exc:
            return refused(exc.status, exc.reason)
        delivery_id = request.headers.get("x-mlflow-delivery-id")
        if (
            not key  # no secret (or an empty one): nothing can prove a delivery is MLflow's
            or delivery_id is None
            or not signature_valid(
                key,
                delivery_id,
                request.headers.get("x-mlflow-timestamp"),
                raw,
                request.headers.get("x-mlflow-signature"),
                now=time.time(),
            )
        ):
            peer = request.client.host if request.client else "unknown"
            log.warning("mlflow webhook refused: bad or stale signature from %s", peer)
            return refused(401, UNSIGNED, "unauthorized")
        if len(delivery_id) > MAX_DELIVERY_ID:
            return refused(400, f"X-MLflow-Delivery-Id: longer than {MAX_DELIVERY_ID} characters")
        try:
            delivery = parse_model(MLflowDelivery, raw)
            change = change_of(delivery_id, delivery)
        except IntakeError as exc:
            return refused(exc.status, exc.reason)
        try:
            with rt.pressure.busy():
                stored = await anyio.to_thread.run_sync(
                    run_tx,
                    rt.engine,
                    lambda s: ingest(s, delivery_id, delivery, change, raw),
                    limiter=rt.db_limiter,
                )
        except SQLAlchemyError as exc:
            response = storage_failure(SOURCE, delivery_id, exc)
            metrics.webhook_rejected.labels(SOURCE, str(response.status_code)).inc()
            return response
        extra = {"delivery_id": stored.delivery_id}
        if stored.change:
            log.info("mlflow registry: %s", stored.change, extra=extra)
        else:
            log.debug("mlflow delivery %s: %s", delivery.event, stored.status, extra=extra)
        return JSONResponse(
            {"status": stored.status, "delivery_id": stored.delivery_id, "change": stored.change}
        )

    return router
