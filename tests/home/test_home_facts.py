"""One person's App Home, read from the store on SQLite and PostgreSQL: the open incidents they
lead or acted on, the approvals they may approve (by the executor's own check: not someone
else's rule, not their own request, not an expired one), their running jobs, the five latest
summaries, and who is on call for the services of their incidents."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from bot.home.facts import HomeFacts, home_facts
from bot.store.job_models import JobStatus
from bot.store.models import IncidentStatus
from bot.store.types import utcnow
from tests.support import home_rows


def facts(engine: Engine, user: str, *, pagerduty: bool = True) -> HomeFacts:
    return home_facts(
        engine,
        user,
        executor=home_rows.executor(engine),
        catalog=home_rows.catalog(),
        pagerduty=pagerduty,
        now=utcnow(),
    )


def test_my_open_incidents_are_those_i_lead_or_acted_on(engine: Engine) -> None:
    led = home_rows.incident(engine, "p99 latency", lead="U0ALICE", oncall="Ada Oncall")
    acted = home_rows.incident(engine, "ranker errors", service="ranker", actors=("U0ALICE",))
    home_rows.incident(engine, "not mine", lead="U0BOB", actors=("U0BOB",))
    home_rows.incident(engine, "over", lead="U0ALICE", status=IncidentStatus.RESOLVED)

    home = facts(engine, "U0ALICE")

    assert [(i.id, i.leads) for i in home.incidents] == [(acted, False), (led, True)]
    [first] = [i for i in home.incidents if i.id == led]
    assert first.status == IncidentStatus.FIRING
    assert first.link is not None
    assert first.link.startswith("https://slack.com/archives/C0INCIDENT/")
    # On call for the services of my incidents: the enrichment's reading; ranker has no PagerDuty.
    assert [(o.service, o.person, o.paged) for o in home.oncall] == [
        ("fraud-scorer", "Ada Oncall", True),
        ("ranker", None, False),
    ]
    assert facts(engine, "U0NOBODY").incidents == ()


def test_approvals_waiting_for_me_are_those_my_rule_lets_me_approve(engine: Engine) -> None:
    mine = home_rows.approval(engine, "U0CAROL")  # a rollback: the SREs approve it
    home_rows.approval(engine, "U0CAROL", action="scale_deployment")  # the DBAs approve it
    home_rows.approval(engine, "U0ALICE")  # Alice's own request
    home_rows.approval(engine, "U0CAROL", expires_in=timedelta(seconds=-1))  # expired

    alice = facts(engine, "U0ALICE")
    assert [a.token for a in alice.approvals] == [mine]
    [waiting] = alice.approvals
    assert (waiting.action, waiting.requested_by) == ("rollback_deployment", "U0CAROL")
    assert waiting.summary == "Roll back ml-serving/fraud-scorer to revision 3"
    # Bob, the other SRE, sees Carol's and Alice's rollbacks; Dana (a DBA) the scaling only.
    assert len(facts(engine, "U0BOB").approvals) == 2
    assert [a.action for a in facts(engine, "U0DANA").approvals] == ["scale_deployment"]
    assert facts(engine, "U0CAROL").approvals == ()


def test_my_running_jobs_and_the_latest_summaries(engine: Engine) -> None:
    running = home_rows.job(engine, "U0ALICE")
    pending = home_rows.job(engine, "U0ALICE", status=JobStatus.PENDING)
    home_rows.job(engine, "U0ALICE", status=JobStatus.SUCCEEDED)
    home_rows.job(engine, "U0BOB")
    now = utcnow()
    incidents = [
        home_rows.incident(engine, f"old {n}", status=IncidentStatus.RESOLVED) for n in range(6)
    ]
    for n, incident_id in enumerate(incidents):
        home_rows.summary(engine, incident_id, now - timedelta(hours=6 - n), final=n != 5)

    home = facts(engine, "U0ALICE")

    assert [j.id for j in home.jobs] == [pending, running]
    assert [s.incident_id for s in home.summaries] == incidents[::-1][:5]
    newest = home.summaries[0]
    assert (newest.title, newest.final) == ("old 5", False)
    assert newest.link is not None
    assert newest.link.startswith("https://slack.com/archives/")
    # Everyone sees the same latest summaries.
    assert facts(engine, "U0BOB").summaries == home.summaries


def test_without_pagerduty_the_home_says_so(engine: Engine) -> None:
    home_rows.incident(engine, "p99 latency", lead="U0ALICE")
    assert facts(engine, "U0ALICE", pagerduty=False).pagerduty is False
    assert facts(engine, "U0ALICE").pagerduty is True
