"""A scripted month of incidents, alerts, deploys and action runs, written straight into the
store with fixed times. The figures a report over it must give are worked out by hand in
tests/reports/test_kpis.py.

    period [2026-10-01 00:00, 2026-11-01 00:00) UTC, change-failure window 6 h

    incident  service       severity  1st alert    opened  ack    resolved  deviated  mitigated
    I1        fraud-scorer  critical  10-02 10:00  10:01   10:05  11:00     09:58     10:20 rollback
    I2        fraud-scorer  warning   10-10 08:00  08:00   08:02  08:30     (none)    -
    I3        ranker        critical  10-15 11:59  12:00   12:09  14:59     11:54     12:29 scale
    I4        ranker        warning   10-20 09:00  09:00   09:20  -         -         -
    I5        recsys        critical  10-25 00:00  00:00   -      00:40     -         -
    I6        (none)        (none)    10-28 06:00  06:00   06:01  06:31     -         -
    I7        fraud-scorer  critical  09-30 23:59  (before the period)
    I8        recsys        critical  11-01 00:00  (at the period's end: outside it)

Deploys D1..D11 and action runs R0..R5, S1..S3 are described where they are written, below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.load import parse_catalog
from bot.store.models import Alert, Deployment, Enrichment, Incident, IncidentStatus
from bot.store.run_models import ActionRun, RunStatus

SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)

# fraud-scorer runs as the Deployment fraud-scorer-api: a rollback of it is fraud-scorer's.
# The tiers, models, signals and datasets are for the ML KPIs (tests/reports/ml_history.py).
CATALOG_YAML = """\
services:
  fraud-scorer:
    namespace: ml-serving
    deployments: [fraud-scorer-api]
    tier: 1
    model: fraud-model
    datasets: [{namespace: "s3://lake", name: transactions}]
    signals:
      - {name: feature-drift, query: 'max(fraud_feature_psi{feature!=""})', drift: true}
      - {name: errors, query: 'sum(rate(fraud_errors_total[5m]))'}
  ranker:
    namespace: ml-serving
    deployments: [ranker]
    tier: 1
    model: ranker-model
    datasets: [{namespace: "postgres://db", name: clicks}]
    signals:
      - {name: prediction-drift, query: 'avg by (slot) (ranker_prediction_kl)', drift: true}
  recsys:
    tier: 1
    signals:
      - name: latency
        query: 'histogram_quantile(0.9, sum by (le) (rate(recsys_latency_seconds_bucket[5m])))'
  search:
    tier: 2
    signals: [{name: drift, query: search_drift_score, drift: true}]
datasets:
  transactions: {namespace: "s3://lake", name: transactions, freshness: 6h, owner: fraud-scorer}
  features: {namespace: "s3://lake", name: features, freshness: 1d, owner: ranker}
  labels: {namespace: "s3://lake", name: labels, freshness: 2d, owner: fraud-scorer}
"""
CATALOG = parse_catalog(CATALOG_YAML)


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class Store:
    """Writes rows and remembers their ids by the names the tests use (I1, D3, ...)."""

    session: Session
    ids: dict[str, int] = field(default_factory=dict)
    _fingerprints: int = 0

    def incident(
        self,
        name: str,
        service: str | None,
        severity: str | None,
        opened: datetime,
        *,
        alerts: list[tuple[str, datetime]],
        ack: datetime | None = None,
        resolved: datetime | None = None,
    ) -> int:
        status = (
            IncidentStatus.RESOLVED
            if resolved
            else IncidentStatus.ACKNOWLEDGED
            if ack
            else IncidentStatus.FIRING
        )
        inc = Incident(
            group_key=f"group-{name}",
            source="alertmanager",
            status=status,
            title=f"{name} on {service}",
            severity=severity,
            service=service,
            opened_at=opened,
            acknowledged_at=ack,
            resolved_at=resolved,
        )
        self.session.add(inc)
        self.session.flush()
        assert inc.id is not None
        for alertname, starts in alerts:
            self._fingerprints += 1
            self.session.add(
                Alert(
                    incident_id=inc.id,
                    fingerprint=f"fp{self._fingerprints:04d}",
                    alertname=alertname,
                    status="resolved" if resolved else "firing",
                    starts_at=starts,
                    labels={"alertname": alertname},
                )
            )
        self.ids[name] = inc.id
        return inc.id

    def deviation(self, incident: str, *first_deviation_at: str | None) -> None:
        """The metrics enrichment row: one signal per given ``first_deviation_at``."""
        signals: list[dict[str, Any]] = [
            {"name": f"signal_{n}", "deviated": v is not None, "first_deviation_at": v}
            for n, v in enumerate(first_deviation_at)
        ]
        self.session.add(
            Enrichment(
                incident_id=self.ids[incident],
                source="metrics",
                status="ok",
                data={"signals": signals, "errors": {}},
            )
        )

    def deploy(
        self,
        name: str,
        service: str,
        kind: str,
        version: str,
        deployed: datetime,
        environment: str = "production",
    ) -> int:
        row = Deployment(
            service=service,
            environment=environment,
            kind=kind,
            version=version,
            deployed_at=deployed,
        )
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        self.ids[name] = row.id
        return row.id

    def run(
        self,
        name: str,
        action: str,
        params: dict[str, Any],
        status: str,
        finished: datetime,
        *,
        incident: str | None = None,
        dry_run: bool = False,
        plan: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            ActionRun(
                key=f"key-{name}",
                action=action,
                params=params,
                requested_by="U0ONCALL",
                incident_id=self.ids[incident] if incident else None,
                dry_run=dry_run,
                status=status,
                plan=plan or {},
                created_at=finished,
                updated_at=finished,
            )
        )


def october(engine: Engine) -> dict[str, int]:
    """Writes the month in the module docstring; the ids of its incidents and deploys."""
    with Session(engine) as session:
        s = Store(session)
        # -- incidents (times in the module docstring) --------------------------------------
        s.incident(
            "I1",
            "fraud-scorer",
            "critical",
            at(10, 2, 10, 1),
            alerts=[
                ("FraudScorerErrors", at(10, 2, 10, 0)),
                ("ModelLatencyHigh", at(10, 2, 10, 5)),
                ("FraudScorerErrors", at(10, 2, 10, 30)),  # fired again: a second occurrence
            ],
            ack=at(10, 2, 10, 5),
            resolved=at(10, 2, 11, 0),
        )
        s.deviation("I1", "2026-10-02T09:58:00+00:00", None)
        s.incident(
            "I2",
            "fraud-scorer",
            "warning",
            at(10, 10, 8),
            alerts=[("FraudScorerErrors", at(10, 10, 8))],
            ack=at(10, 10, 8, 2),
            resolved=at(10, 10, 8, 30),
        )
        s.deviation("I2", None, "not a time")  # enrichment ran, found no deviation
        s.incident(
            "I3",
            "ranker",
            "critical",
            at(10, 15, 12),
            alerts=[("RankerDown", at(10, 15, 11, 59)), ("ModelLatencyHigh", at(10, 15, 12))],
            ack=at(10, 15, 12, 9),
            resolved=at(10, 15, 14, 59),
        )
        # two signals: the earliest deviation is the one that counts
        s.deviation("I3", "2026-10-15T11:56:00+00:00", "2026-10-15T11:54:00+00:00")
        s.incident(
            "I4",
            "ranker",
            "warning",
            at(10, 20, 9),
            alerts=[("RankerLatency", at(10, 20, 9))],
            ack=at(10, 20, 9, 20),
        )
        s.incident(
            "I5",
            "recsys",
            "critical",
            at(10, 25, 0),
            alerts=[("ModelLatencyHigh", at(10, 25, 0)), ("FeatureStaleness", at(10, 25, 0))],
            resolved=at(10, 25, 0, 40),
        )
        s.incident(
            "I6",
            None,
            None,
            at(10, 28, 6),
            alerts=[("DiskFull", at(10, 28, 6)), ("DiskFull", at(10, 28, 6, 10))],
            ack=at(10, 28, 6, 1),
            resolved=at(10, 28, 6, 31),
        )
        s.incident(
            "I7",
            "fraud-scorer",
            "critical",
            at(9, 30, 23, 59),
            alerts=[("FraudScorerErrors", at(9, 30, 23, 59))],
            ack=at(10, 1, 0, 30),
            resolved=at(10, 1, 2),
        )
        s.incident(
            "I8",
            "recsys",
            "critical",
            UNTIL,
            alerts=[("FeatureStaleness", UNTIL)],
        )
        # -- deploys ------------------------------------------------------------------------
        s.deploy("D1", "fraud-scorer", "model", "1.4.2", at(10, 2, 7))  # I1 3h01m later
        s.deploy("D2", "fraud-scorer", "code", "2.0.0", at(10, 9, 12))  # I2 20h later
        s.deploy("D3", "ranker", "code", "r-51", at(10, 15, 6))  # I3 exactly 6h later
        s.deploy("D4", "ranker", "model", "m-7", at(10, 20, 2, 59, 59))  # I4 6h00m01s later
        s.deploy("D5", "ranker", "code", "r-52", at(10, 24, 21))  # I5 is recsys's
        s.deploy("D6", "fraud-scorer", "code", "2.0.1", at(10, 28, 5))  # I6 has no service
        s.deploy("D7", "recsys", "model", "v3", at(10, 31, 20))  # I8, after the period
        s.deploy("D8", "fraud-scorer", "code", "1.9.0", SINCE, "staging")  # I7 was before
        s.deploy("D9", "recsys", "code", "c-1", at(10, 25, 0))  # with I5, not before it
        s.deploy("D10", "fraud-scorer", "code", "1.8.0", at(9, 30, 20))  # before the period
        s.deploy("D11", "recsys", "code", "c-2", UNTIL)  # at the period's end: outside it
        # -- action runs --------------------------------------------------------------------
        api = {"namespace": "ml-serving", "deployment": "fraud-scorer-api"}
        s.run(
            "R0",
            "rollback_deployment",
            api,
            RunStatus.DRY_RUN,
            at(10, 2, 10, 10),
            incident="I1",
            dry_run=True,
        )
        s.run(
            "R1", "rollback_deployment", api, RunStatus.SUCCEEDED, at(10, 2, 10, 20), incident="I1"
        )
        batch = {"namespace": "batch", "deployment": "legacy-batch"}  # not in the catalog
        s.run("R2", "rollback_deployment", batch, RunStatus.SUCCEEDED, at(10, 12, 3))
        s.run("R3", "rollback_deployment", api, RunStatus.FAILED, at(10, 16, 9))
        s.run("R4", "rollback_deployment", api, RunStatus.SUCCEEDED, at(9, 29, 9))
        s.run("R5", "rollback_deployment", api, RunStatus.SUCCEEDED, UNTIL)
        ranker = {"namespace": "ml-serving", "deployment": "ranker"}
        s.run(
            "S1", "restart_deployment", ranker, RunStatus.FAILED, at(10, 15, 12, 10), incident="I3"
        )
        s.run(
            "S2",
            "scale_deployment",
            {**ranker, "replicas": 6},
            RunStatus.SUCCEEDED,
            at(10, 15, 12, 29),
            incident="I3",
        )
        # a message is not a remediation: I1 is mitigated by the rollback after it
        s.run(
            "S3",
            "post_message",
            {"text": "mitigated?"},
            RunStatus.SUCCEEDED,
            at(10, 2, 10, 15),
            incident="I1",
        )
        session.commit()
        return dict(s.ids)
