"""The ML team's KPIs over a period, alongside the reliability ones (``bot/reports/kpis.py``).

    drift_coverage.py        tier-1 services whose drift signal an alerting rule watches
    pipeline_success.py      OpenLineage runs completed vs failed, per job
    freshness_adherence.py   how much of the period each watched dataset was fresh; stale now
    lineage_completeness.py  catalog datasets OpenLineage told opsbot about in the period
    model_lead_time.py       registration → first production deploy of a model version

Each module's docstring defines its figures exactly. Prometheus's rules are read before the
report (``drift_coverage.read_rules``), outside the database work, and handed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.catalog.model import Catalog
from bot.reports.drift_coverage import DriftCoverage, RulesRead, drift_coverage
from bot.reports.freshness_adherence import FreshnessAdherence, freshness_adherence
from bot.reports.lineage_completeness import LineageCompleteness, lineage_completeness
from bot.reports.model_lead_time import ModelLeadTimes, model_lead_times
from bot.reports.pipeline_success import PipelineRuns, pipeline_runs


@dataclass(frozen=True)
class MLKpis:
    drift: DriftCoverage
    pipelines: PipelineRuns
    freshness: FreshnessAdherence
    lineage: LineageCompleteness
    lead_time: ModelLeadTimes

    def as_json(self) -> dict[str, Any]:
        return {
            "drift_coverage": self.drift.as_json(),
            "pipelines": self.pipelines.as_json(),
            "freshness": self.freshness.as_json(),
            "lineage_completeness": self.lineage.as_json(),
            "model_lead_time": self.lead_time.as_json(),
        }


def ml_kpis(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    catalog: Catalog,
    rules: RulesRead,
    now: datetime,
) -> MLKpis:
    return MLKpis(
        drift=drift_coverage(catalog, rules),
        pipelines=pipeline_runs(session, since, until),
        freshness=freshness_adherence(session, catalog, since, until, now),
        lineage=lineage_completeness(session, catalog, since, until),
        lead_time=model_lead_times(session, catalog, since, until),
    )
