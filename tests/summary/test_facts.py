"""Gathering a summary's facts: each from its source, each with the events it came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.store.job_models import JobRun, JobStatus
from bot.store.models import Deployment
from bot.store.run_models import PlaybookRun, RunStatus
from bot.summary.facts import gather, prediction_volume
from tests.summary.conftest import (
    CATALOG,
    RESOLVED,
    START,
    ScriptedProm,
    Story,
    at,
    write_fraud_incident,
)


def test_the_scripted_incident_gathers_every_fact_with_its_events(engine: Engine) -> None:
    prom = ScriptedProm(rate=250.0)
    with Session(engine) as session:
        story = write_fraud_incident(session)
        facts = gather(session, story.id, CATALOG, prom=prom, now=at(4, 0))

    assert facts.final
    assert facts.duration == timedelta(minutes=21, seconds=10)
    assert [e.id for e in facts.timeline] == list(range(1, 17))
    assert facts.actors == {"U0ALICE", "U0BOB", "U0CAROL"}
    assert facts.services == ("fraud-scorer",)

    p, pc = facts.phases, facts.phase_cites
    assert (p.alerted_at, p.deviated_at, p.mitigated_by) == (
        START,
        at(2, 58, 40),
        "rollback_deployment",
    )
    assert (pc.alerted, pc.detected, pc.acknowledged, pc.mitigated, pc.resolved) == (
        (2,),
        (2, 3),
        (4,),
        (11,),
        (14,),
    )

    assert [(m.version, m.during, m.deployed_at) for m in facts.model_versions] == [
        ("1.4.2", False, at(2, 58)),
        ("1.4.1", True, at(3, 12, 10)),
    ]
    (volume,) = facts.volumes
    assert (volume.signal, volume.predictions, volume.per_second, volume.error) == (
        "predictions_per_s",
        pytest.approx(317_500.0),
        pytest.approx(250.0),
        None,
    )
    assert prom.calls == [
        (CATALOG.services["fraud-scorer"].signals[1].query, START, RESOLVED, 15.0)
    ]

    assert [(s.rank, s.ref, s.cites) for s in facts.suspects] == [
        (1, "fraud-model 1.4.2", (3,)),
        (2, "fraud-scorer:2.3.1", (3,)),
    ]
    assert facts.deviation is not None
    assert (facts.deviation.signal, facts.deviation.at) == ("error_ratio", at(2, 58, 40))
    assert [(u.source, u.reason) for u in facts.unavailable] == [
        ("data", "lineage timed out after 1.0 s")
    ]
    assert [(n.event_id, n.actor, n.text[:9]) for n in facts.confirmed] == [
        (12, "U0BOB", "model 1.4")
    ]

    dry, rollback = facts.actions
    assert (dry.dry_run, dry.status, dry.cites, dry.outcome) == (
        True,
        RunStatus.DRY_RUN,
        (5, 6),
        None,
    )
    assert (rollback.approver, rollback.approved_at, rollback.finished_at, rollback.cites) == (
        "U0BOB",
        at(3, 11, 40),
        at(3, 12, 5),
        (8, 9, 10, 11),
    )
    assert facts.mitigation() == rollback

    assert [(f.text[:20], f.cites, f.actor) for f in facts.follow_ups] == [
        ("add a schema check t", (15,), "U0ALICE"),
        ("# page the model own", (16,), "U0CAROL"),
        ("Alert lag: the alert", (2, 3), None),
        ("Enrichment source da", (3,), None),
    ]


def test_model_versions_are_per_environment_and_only_those_running_in_the_window(
    sqlite_engine: Engine,
) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        for env, version, when in (
            ("staging", "1.5.0-rc1", at(1, 0)),
            ("staging", "1.5.0-rc2", at(2, 0)),
            ("production", "9.9.9", at(5, 0)),  # after the end
        ):
            session.add(
                Deployment(
                    service="fraud-scorer",
                    environment=env,
                    kind="model",
                    version=version,
                    deployed_at=when,
                    received_at=when,
                )
            )
        session.commit()
        facts = gather(session, story.id, CATALOG, now=at(6, 0))
    assert [(m.environment, m.version, m.during) for m in facts.model_versions] == [
        ("production", "1.4.2", False),
        ("production", "1.4.1", True),
        ("staging", "1.5.0-rc2", False),
    ]
    assert {m.model for m in facts.model_versions} == {"fraud-model"}  # the catalog's name


def test_prediction_volume_counts_each_sample_for_a_step_and_gaps_as_nothing() -> None:
    end = datetime.fromtimestamp(1000.0, tz=UTC)
    assert prediction_volume([(0.0, 10.0), (15.0, 10.0), (30.0, 10.0)], end, 15.0) == 450.0
    # a gap of 45 s between samples: the first counts for one step only
    assert prediction_volume([(0.0, 10.0), (60.0, 10.0)], end, 15.0) == 300.0
    # the last sample counts until the end of the window
    assert prediction_volume([(990.0, 2.0)], end, 15.0) == 20.0
    assert prediction_volume([(0.0, -5.0)], end, 15.0) == 0.0  # a counter reset is no volume


def test_any_failure_of_the_volume_query_is_a_fact_not_an_error(sqlite_engine: Engine) -> None:
    prom = ScriptedProm()
    prom.errors.append(RuntimeError("something odd"))
    empty = ScriptedProm()
    empty.query_range = lambda *args: []  # type: ignore[method-assign]
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        (broken,) = gather(session, story.id, CATALOG, prom=prom).volumes
        (nothing,) = gather(session, story.id, CATALOG, prom=empty).volumes
    assert (broken.predictions, broken.error) == (None, "something odd")
    assert (nothing.predictions, nothing.error) == (None, "no samples in the window")


def test_notes_prefixes_are_recognised_in_any_case(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session, until=START)
        for text in (
            "Root Cause: a bad feature join",
            "CAUSE:",  # nothing after the prefix: not a cause
            "Action item: alert on schema changes",
            "followup: add a canary",
            "TODO : dashboards",
            "because: not a prefix",
        ):
            story.event(at(3, 5), "note", text, "U0ALICE")
        session.commit()
        facts = gather(session, story.id, CATALOG, now=at(3, 6))
    assert [n.text for n in facts.confirmed] == ["a bad feature join"]
    notes = [f.text for f in facts.follow_ups if f.actor == "U0ALICE"]
    assert notes == ["alert on schema changes", "add a canary", "dashboards"]


def test_failed_actions_and_jobs_become_follow_ups_and_playbooks_cite_their_events(
    sqlite_engine: Engine,
) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session, until=START)
        playbook = PlaybookRun(
            playbook="rollback-model-deploy",
            incident_id=story.id,
            requested_by="U0ALICE",
            status="failed",
            created_at=at(3, 5),
            updated_at=at(3, 6),
        )
        session.add(playbook)
        session.flush()
        assert playbook.id is not None
        story.event(at(3, 5), "playbook_started", "started", "U0ALICE", playbook_run_id=playbook.id)
        run = _failed_restart(story, playbook.id)
        job = _failed_job(story)
        session.commit()
        facts = gather(session, story.id, CATALOG, now=at(3, 20))
    (pb,) = facts.playbooks
    assert (pb.playbook, pb.status, pb.cites) == ("rollback-model-deploy", "failed", (3,))
    (action,) = facts.actions
    assert (action.run_id, action.playbook_run_id, action.outcome) == (
        run,
        playbook.id,
        "pods never became ready",
    )
    (j,) = facts.jobs
    assert (j.run_id, j.status, j.ended_at, j.cites) == (job, "failed", at(3, 15), (5,))
    texts = [f.text for f in facts.follow_ups]
    assert texts == [
        "No remediation recorded yet: no remediating action has succeeded so far.",
        f"restart_deployment (run {run}) failed: pods never became ready; find out why.",
        f"train job {job} (retrain) failed: OOM; find out why.",
    ]


def _failed_restart(story: Story, playbook_run_id: int) -> int:
    run = story.run(
        key="restart-1",
        action="restart_deployment",
        requested_by="playbook:1",
        playbook_run_id=playbook_run_id,
        status=RunStatus.FAILED,
        error="pods never became ready",
        plan={"summary": "Restart ml-serving/fraud-scorer"},
        created_at=at(3, 5, 30),
        updated_at=at(3, 8),
    )
    story.event(at(3, 8), "action_failed", "restart failed", "system", action_run_id=run)
    return run


def _failed_job(story: Story) -> int:
    job = JobRun(
        submission_id="opsbot-train-1",
        kind="train",
        template="retrain",
        entrypoint="python -m ray_jobs.train",
        requested_by="U0ALICE",
        incident_id=story.id,
        status=JobStatus.FAILED,
        message="OOM",
        start_deadline_at=at(3, 20),
        deadline_at=at(4, 0),
        submitted_at=at(3, 10),
        ended_at=at(3, 15),
    )
    story.session.add(job)
    story.session.flush()
    assert job.id is not None
    story.event(at(3, 15), "job_failed", "train job failed: OOM", "U0ALICE", job_run_id=job.id)
    return job.id


def test_an_unknown_incident_is_a_lookup_error(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session, pytest.raises(LookupError):
        gather(session, 404, CATALOG)
