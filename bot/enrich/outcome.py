"""What one enrichment of an incident found: each source's result, the changes, the ranked
suspects, the signals and their chart, and the playbooks to offer."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.enrich.suspects import Suspect
from bot.enrich.types import ChangeEvent, SignalSeries, SourceResult


@dataclass
class Outcome:
    incident_id: int
    results: dict[str, SourceResult] = field(default_factory=dict)
    changes: list[ChangeEvent] = field(default_factory=list)
    suspects: list[Suspect] = field(default_factory=list)
    series: list[SignalSeries] = field(default_factory=list)
    chart: bytes | None = None
    playbooks: list[str] = field(default_factory=list)  # offered on the root, best first
