"""What PagerDuty sends opsbot: v3 webhooks (``pd_event``), signed as PagerDuty signs them with
the tests' ``PD_SECRET`` (``sign``), and ``post``, which sends one to the app in process."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from tests.support.asgi import PD_SECRET

URL = "/webhooks/pagerduty"


def pd_event(
    event_type: str, *, event_id: str, pd_id: str = "Q1ABCDEF", incident_key: str | None = None
) -> dict[str, Any]:
    """A v3 webhook as PagerDuty sends it (fields as in the v3 webhook docs)."""
    return {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-27T05:00:00.000Z",
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "self": "https://api.pagerduty.com/users/PLH1HKV",
                "summary": "Ada Oncall",
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": pd_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{pd_id}",
                "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}",
                "number": 42,
                "status": event_type.split(".")[1],
                "incident_key": incident_key,
                "created_at": "2026-11-27T04:59:00Z",
                "title": "fraud-scorer p95 latency above SLO",
                "service": {
                    "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                    "id": "PF9KMXH",
                    "self": "https://api.pagerduty.com/services/PF9KMXH",
                    "summary": "fraud-scorer",
                    "type": "service_reference",
                },
                "assignees": [],
                "escalation_policy": None,
                "teams": [],
                "priority": {"id": "P1", "summary": "P1", "type": "priority_reference"},
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def sign(body: bytes, secret: str = PD_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post(
    client: httpx.AsyncClient, payload: dict[str, Any], signature: str | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": signature if signature is not None else sign(body),
    }
    return await client.post(URL, content=body, headers=headers)
