"""MLflow Model Registry webhook deliveries (the fields opsbot reads) and their signature check.

MLflow (``mlflow/webhooks/delivery.py``) posts ``{"entity", "action", "timestamp", "data"}`` with
``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (epoch seconds) and, when the webhook has a
secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` of ``f"{delivery_id}.{timestamp}.{body}"``
(``_generate_hmac_signature``). It retries a delivery (429, 5xx) with the same id, timestamp and
body.

The models are strict (a version is the string ``"8"``, never the number) and ignore fields
MLflow may add.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bot.intake.times import PastTime

# How far X-MLflow-Timestamp may be from now, either way: an older delivery is a replay.
MAX_SKEW_S = 300
SIGNATURE_VERSION = "v1"
_EPOCH_SECONDS = re.compile(r"[0-9]{1,12}")

Name = Annotated[str, Field(min_length=1, max_length=256)]
Version = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")]
Alias = Annotated[str, Field(min_length=1, max_length=256)]

# The events opsbot records (``entity.action``); any other is answered 200 and ignored.
HANDLED = frozenset(
    {
        "model_version.created",
        "model_version_alias.created",
        "model_version_alias.deleted",
        "model_version_tag.set",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class MLflowDelivery(_Strict):
    """The envelope: which event, when MLflow sent it, and its data (read per event below)."""

    entity: str = Field(min_length=1, max_length=64)
    action: str = Field(min_length=1, max_length=64)
    timestamp: Annotated[PastTime, Field(strict=False)]  # ISO 8601 text in the JSON
    data: dict[str, Any]

    @property
    def event(self) -> str:
        return f"{self.entity}.{self.action}"


class VersionCreated(_Strict):
    """``model_version.created``."""

    name: Name
    version: Version
    source: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)  # the tags it was created with


class AliasCreated(_Strict):
    """``model_version_alias.created``: set on a version, or moved to it."""

    name: Name
    alias: Alias
    version: Version


class AliasDeleted(_Strict):
    """``model_version_alias.deleted`` (no version: opsbot knows which one held it)."""

    name: Name
    alias: Alias


class TagSet(_Strict):
    """``model_version_tag.set``."""

    name: Name
    version: Version
    key: Annotated[str, Field(min_length=1, max_length=250)]
    value: str


def signature_valid(
    secret: str,
    delivery_id: str | None,
    timestamp: str | None,
    raw_body: bytes,
    header: str | None,
    *,
    now: float,
) -> bool:
    """Whether ``header`` is MLflow's signature of this delivery, compared in constant time,
    and ``timestamp`` is within ``MAX_SKEW_S`` of ``now``. Anything missing: False."""
    if not (delivery_id and timestamp and header):
        return False
    if not _EPOCH_SECONDS.fullmatch(timestamp) or abs(now - int(timestamp)) > MAX_SKEW_S:
        return False
    version, _, given = header.partition(",")
    if version.strip() != SIGNATURE_VERSION:
        return False
    try:
        digest = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    # MLflow signs the UTF-8 of f"{delivery_id}.{timestamp}.{payload}": the same bytes.
    signed = f"{delivery_id}.{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return hmac.compare_digest(digest, expected)
