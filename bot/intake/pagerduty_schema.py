"""PagerDuty v3 webhook payloads (the fields opsbot reads) and their signature check."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field

from bot.intake.times import PastTime


class PDReference(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    summary: str | None = None
    html_url: str | None = None


class PDIncidentData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=64)
    type: str = "incident"
    html_url: str | None = None
    number: int | None = None
    status: str | None = None
    title: str | None = None
    incident_key: str | None = None
    urgency: str | None = None
    service: PDReference | None = None
    priority: PDReference | None = None


class PDEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=128)
    event_type: str = Field(min_length=1)
    resource_type: str
    occurred_at: PastTime
    agent: PDReference | None = None
    data: PDIncidentData


class PDWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event: PDEvent


def signature_valid(secret: str, raw_body: bytes, header: str | None) -> bool:
    """``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``; any one match is enough (rotation)."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    ok = False
    for part in header.split(","):
        version, _, digest = part.strip().partition("=")
        if version == "v1" and digest:
            ok |= hmac.compare_digest(digest.encode(), expected.encode())
    return ok
