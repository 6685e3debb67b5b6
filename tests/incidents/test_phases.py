"""An incident's phases from what the store recorded (bot/incidents/phases.py), on SQLite and on
the real PostgreSQL: the first alert, the first deviation, the first real remediation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.incidents.phases import phases_of
from bot.store.models import Incident
from bot.store.run_models import RunStatus
from tests.reports.history import Store

T0 = datetime(2026, 10, 2, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
DEPLOYMENT = {"namespace": "ml-serving", "deployment": "fraud-scorer"}


def incident(engine: Engine, id_: int) -> Incident:
    with Session(engine) as session:
        found = session.get(Incident, id_)
        assert found is not None
        return found


def test_every_phase_counts_from_the_first_alert(engine: Engine) -> None:
    with Session(engine) as session:
        s = Store(session)
        # opened a minute after its first alert started; a later alert does not move it
        s.incident(
            "I",
            "fraud-scorer",
            "critical",
            T0 + MIN,
            alerts=[("FraudScorerErrors", T0 + 30 * MIN), ("FraudScorerErrors", T0)],
            ack=T0 + 5 * MIN,
            resolved=T0 + 60 * MIN,
        )
        # the earliest readable deviation of any signal counts
        s.deviation("I", "2026-10-02T09:57:00+00:00", None, "garbage", "2026-10-02T09:55:00Z")
        # not mitigations: a failed rollback, a dry run, a no-op scale, a message
        s.run("a", "rollback_deployment", DEPLOYMENT, RunStatus.FAILED, T0 + 6 * MIN, incident="I")
        s.run(
            "b",
            "rollback_deployment",
            DEPLOYMENT,
            RunStatus.DRY_RUN,
            T0 + 7 * MIN,
            incident="I",
            dry_run=True,
        )
        s.run(
            "c",
            "scale_deployment",
            {**DEPLOYMENT, "replicas": 2},
            RunStatus.SUCCEEDED,
            T0 + 8 * MIN,
            incident="I",
            plan={"noop": True},
        )
        s.run(
            "d", "post_message", {"text": "on it"}, RunStatus.SUCCEEDED, T0 + 9 * MIN, incident="I"
        )
        # the first real one, then a later one
        s.run(
            "e", "restart_deployment", DEPLOYMENT, RunStatus.SUCCEEDED, T0 + 12 * MIN, incident="I"
        )
        s.run(
            "f", "rollback_deployment", DEPLOYMENT, RunStatus.SUCCEEDED, T0 + 20 * MIN, incident="I"
        )
        session.commit()
        ids = dict(s.ids)
    with Session(engine) as session:
        phases = phases_of(session, incident(engine, ids["I"]))
    assert phases.alerted_at == T0
    assert phases.deviated_at == T0 - 5 * MIN
    assert (phases.mitigated_at, phases.mitigated_by) == (T0 + 12 * MIN, "restart_deployment")
    assert phases.time_to_detect == 5 * MIN
    assert phases.time_to_acknowledge == 5 * MIN
    assert phases.time_to_mitigate == 12 * MIN
    assert phases.time_to_resolve == 60 * MIN
    assert phases.as_json()["time_to_resolve_s"] == 3600.0


def test_what_has_not_happened_is_none(engine: Engine) -> None:
    with Session(engine) as session:
        s = Store(session)
        # PagerDuty-only: no alert rows, so the incident's own opening is the alert
        s.incident("P", "ranker", "critical", T0, alerts=[])
        session.commit()
        ids = dict(s.ids)
    with Session(engine) as session:
        phases = phases_of(session, incident(engine, ids["P"]))
    assert phases.alerted_at == T0
    assert (phases.deviated_at, phases.acknowledged_at, phases.mitigated_at) == (None,) * 3
    assert (phases.time_to_detect, phases.time_to_acknowledge) == (None, None)
    assert (phases.time_to_mitigate, phases.time_to_resolve) == (None, None)


def test_a_deviation_after_the_alert_means_no_time_to_detect_gained(engine: Engine) -> None:
    with Session(engine) as session:
        s = Store(session)
        s.incident("L", "ranker", "warning", T0, alerts=[("RankerLatency", T0)])
        s.deviation("L", "2026-10-02T10:03:00+00:00")  # the signal moved only after the alert
        session.commit()
        ids = dict(s.ids)
    with Session(engine) as session:
        phases = phases_of(session, incident(engine, ids["L"]))
    assert phases.deviated_at == T0 + 3 * MIN
    assert phases.time_to_detect == timedelta(0)
