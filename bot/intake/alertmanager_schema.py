"""The Alertmanager webhook payload, version 4 (as sent by Alertmanager 0.25)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bot.intake.times import UtcTime, in_utc

# Alertmanager's zero time: the alert has no end yet.
ZERO_TIME_YEAR = 1


class AMAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: UtcTime  # clamped when it is in the future: bot/incidents/alert_times.py
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("endsAt")
    @classmethod
    def _zero_is_none(cls, v: datetime | None) -> datetime | None:
        return None if v is None or v.year == ZERO_TIME_YEAR else in_utc(v)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


class AMPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[AMAlert] = Field(min_length=1)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    truncatedAlerts: int = 0
