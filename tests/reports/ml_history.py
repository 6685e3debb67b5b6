"""The ML side of the scripted October (tests/reports/history.py): OpenLineage runs, MLflow
registry events, model deploys, and the Prometheus rules that watch drift. Written straight into
the store with fixed times; tests/reports/test_ml_kpis.py works out every figure by hand.

    lineage runs (job, state, events)                     writes                 reads
    T0  etl/transactions  COMPLETE 09-30 19:00 → 20:00    s3://lake/transactions
    T1  etl/transactions  COMPLETE 10-01 05:00 → 06:00    s3://lake/transactions
    T2  etl/transactions  COMPLETE 10-01 09:00 → 10:00    s3://lake/transactions
    T3  etl/transactions  FAIL     10-01 16:00 → 17:00    s3://lake/transactions
    T4  etl/transactions  COMPLETE 10-31 19:00 → 20:00    s3://lake/transactions
    T5  etl/transactions  COMPLETE 10-31 23:00 → 11-01 00:00 (at the period's end)
    T6  etl/transactions  START    10-20 08:00 (still running)
    G1  etl-gcs/transactions COMPLETE 10-15 00:00 → 01:00  gs://other/transactions (not ours)
    F1  etl/features      COMPLETE 10-09 23:00 → 10-10 00:00  s3://lake/features
    F2  etl/features      COMPLETE 10-10 11:00 → 12:00    s3://lake/features     s3://lake/transactions
    F3  etl/features      ABORT    10-29 23:00 → 10-30 00:00  s3://lake/features
    C1  etl/clicks        COMPLETE 09-29 00:00 → 01:00    (none)                 postgres://db/clicks

    registry (model, version, event, at)           production model deploys (+ history.py's)
    fraud-model  v7  version_created 10-03 09:00   L1  fraud-scorer v7  10-03 21:00
    fraud-model  v7  version_created 10-03 09:05   L2  fraud-scorer v7  10-05 00:00 (again)
    fraud-model  v8  version_created 10-20 12:00   L3  fraud-scorer v7  10-03 12:00 staging
    fraud-model  v8  alias_set       10-21 00:00   L4  fraud-scorer v8  10-22 12:00
    ranker-model 12  version_created 09-25 00:00   L5  ranker 12        10-01 00:00
    fraud-model  v9  version_created 10-30 00:00   L6  fraud-scorer v9  10-29 00:00
                                                   L7  ranker 11        09-28 00:00
                                                   L8  ranker 11        10-10 00:00 (again)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.store.models import LineageEvent, LineageRun, LineageRunDataset
from bot.store.registry_models import ModelRegistryEvent
from tests.reports.history import UNTIL, Store, at

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.24.0/integration/airflow"
LAKE, DB, GCS = "s3://lake", "postgres://db", "gs://other"

# The rules Prometheus loads (tests/reports/test_drift_coverage.py). fraud-scorer's drift metric
# is read by an alert through a recording rule; ranker's only by a recording rule; search's by
# an alert, but search is tier 2; recsys has no drift signal.
DRIFT_RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "drift",
            "rules": [
                {"record": "fraud:feature_psi:max", "expr": "max by (model) (fraud_feature_psi)"},
                {"alert": "FraudFeatureDrift", "expr": "fraud:feature_psi:max > 0.2"},
                {"record": "ranker:prediction_kl:avg", "expr": "avg(ranker_prediction_kl)"},
                {"alert": "SearchDrift", "expr": "search_drift_score > 0.3", "for": "10m"},
            ],
        },
        {
            "name": "serving",
            "rules": [
                {
                    "alert": "RankerErrors",
                    "expr": 'sum(rate(ranker_errors_total{slot="top"}[5m])) > 1',
                }
            ],
        },
    ]
}


def run(
    session: Session,
    job: str,
    state: str,
    started: datetime,
    ended: datetime | None,
    *,
    outputs: tuple[tuple[str, str], ...] = (),
    inputs: tuple[tuple[str, str], ...] = (),
) -> None:
    """One run: a START event at ``started`` and, if ``ended``, its terminal event then."""
    namespace, name = job.split("/")
    run_id = str(uuid.uuid4())
    row = LineageRun(
        run_id=run_id,
        job_namespace=namespace,
        job_name=name,
        state=state,
        state_at=ended or started,
        started_at=started,
        ended_at=ended,
        first_event_at=started,
        last_event_at=ended or started,
        producer=PRODUCER,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for direction, keys in (("output", outputs), ("input", inputs)):
        for ns, dataset in keys:
            session.add(
                LineageRunDataset(run_pk=row.id, direction=direction, namespace=ns, name=dataset)
            )
    for kind, when in (("START", started), (state, ended)):
        if when is not None:
            session.add(
                LineageEvent(run_id=run_id, event_type=kind, event_time=when, producer=PRODUCER)
            )


def registered(session: Session, model: str, version: str, when: datetime, event: str) -> None:
    session.add(
        ModelRegistryEvent(
            dedupe_key=f"poll:{model}:{version}:{event}:{when.isoformat()}",
            source="poll",
            model=model,
            version=version,
            event=event,
            alias="champion" if event == "alias_set" else None,
            at=when,
        )
    )


def october_ml(engine: Engine) -> dict[str, int]:
    """Writes the module docstring's runs, registry events and deploys; the deploys' ids."""
    transactions, features = (LAKE, "transactions"), (LAKE, "features")
    with Session(engine) as session:
        etl = "etl/transactions"
        run(session, etl, "COMPLETE", at(9, 30, 19), at(9, 30, 20), outputs=(transactions,))
        run(session, etl, "COMPLETE", at(10, 1, 5), at(10, 1, 6), outputs=(transactions,))
        run(session, etl, "COMPLETE", at(10, 1, 9), at(10, 1, 10), outputs=(transactions,))
        run(session, etl, "FAIL", at(10, 1, 16), at(10, 1, 17), outputs=(transactions,))
        run(session, etl, "COMPLETE", at(10, 31, 19), at(10, 31, 20), outputs=(transactions,))
        run(session, etl, "COMPLETE", at(10, 31, 23), UNTIL, outputs=(transactions,))
        run(session, etl, "START", at(10, 20, 8), None, outputs=(transactions,))
        run(
            session,
            "etl-gcs/transactions",
            "COMPLETE",
            at(10, 15, 0),
            at(10, 15, 1),
            outputs=((GCS, "transactions"),),
        )
        fx = "etl/features"
        run(session, fx, "COMPLETE", at(10, 9, 23), at(10, 10, 0), outputs=(features,))
        run(
            session,
            fx,
            "COMPLETE",
            at(10, 10, 11),
            at(10, 10, 12),
            outputs=(features,),
            inputs=(transactions,),
        )
        run(session, fx, "ABORT", at(10, 29, 23), at(10, 30, 0), outputs=(features,))
        run(session, "etl/clicks", "COMPLETE", at(9, 29, 0), at(9, 29, 1), inputs=((DB, "clicks"),))
        registered(session, "fraud-model", "v7", at(10, 3, 9), "version_created")
        registered(session, "fraud-model", "v7", at(10, 3, 9, 5), "version_created")
        registered(session, "fraud-model", "v8", at(10, 20, 12), "version_created")
        registered(session, "fraud-model", "v8", at(10, 21, 0), "alias_set")
        registered(session, "ranker-model", "12", at(9, 25, 0), "version_created")
        registered(session, "fraud-model", "v9", at(10, 30, 0), "version_created")
        s = Store(session)
        s.deploy("L1", "fraud-scorer", "model", "v7", at(10, 3, 21))
        s.deploy("L2", "fraud-scorer", "model", "v7", at(10, 5, 0))
        s.deploy("L3", "fraud-scorer", "model", "v7", at(10, 3, 12), "staging")
        s.deploy("L4", "fraud-scorer", "model", "v8", at(10, 22, 12))
        s.deploy("L5", "ranker", "model", "12", at(10, 1, 0))
        s.deploy("L6", "fraud-scorer", "model", "v9", at(10, 29, 0))
        s.deploy("L7", "ranker", "model", "11", at(9, 28, 0))
        s.deploy("L8", "ranker", "model", "11", at(10, 10, 0))
        session.commit()
        return dict(s.ids)
