"""Data freshness as an incident source, on SQLite and PostgreSQL, with the real
``openlineage-python`` client posting run events to the served app's ``/api/v1/lineage``.

The app's own freshness loop is off (``OPSBOT_FRESHNESS_CHECK_S=0``): each test runs the loop's
pass itself at times it chooses (``check_once(now=...)``), against the app's database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import RunState
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.app import build_app
from bot.catalog.model import Catalog
from bot.config import Settings
from bot.incidents.freshness_loop import FreshnessLoop
from bot.incidents.freshness_watch import fingerprint
from bot.store.engine import make_engine
from bot.store.freshness_models import DatasetWatch
from bot.store.models import Alert, Incident, OutboxMessage, TimelineEvent
from bot.store.summary_models import IncidentSummary
from bot.store.types import utcnow
from bot.summary.build import template_summary
from bot.wiring.runtime import background_loops
from tests.support.app_server import served
from tests.support.lineage_events import emit, lineage_client, run

API_KEY = "freshness-api-key"
WH = "postgres://warehouse:5432"
FEATURES = (WH, "features.transactions")
RAW = (WH, "raw.payments")
SCORES = (WH, "scores.daily")
JOB = ("airflow", "daily.build_transactions")
CATALOG = f"""
services:
  fraud-scorer:
    channel: C0FRAUD
datasets:
  transactions:
    namespace: "{WH}"
    name: features.transactions
    freshness: 6h
    owner: fraud-scorer
  scores:
    namespace: "{WH}"
    name: scores.daily
    freshness: 6h
    owner: fraud-scorer
"""
# A day ago, on the real clock: run events may not be in the future (PastTime).
T = (utcnow() - timedelta(days=1)).replace(microsecond=0)


@dataclass
class Bot:
    url: str
    engine: Engine
    catalog: Catalog
    client: OpenLineageClient

    def loop(self, engine: Engine | None = None) -> FreshnessLoop:
        """A freshness loop as a replica builds it (a new one is what a restart has)."""
        return FreshnessLoop(engine or self.engine, self.catalog, "C0INCIDENT", interval_s=60)

    def incidents(self) -> list[Incident]:
        with Session(self.engine) as s:
            return list(s.exec(select(Incident).order_by(col(Incident.id))).all())

    def alerts(self) -> list[Alert]:
        with Session(self.engine) as s:
            return list(s.exec(select(Alert).order_by(col(Alert.id))).all())

    def messages(self, incident_id: int, kind: str) -> list[OutboxMessage]:
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.incident_id == incident_id, OutboxMessage.kind == kind)
                    .order_by(col(OutboxMessage.id))
                ).all()
            )

    def timeline(self, incident_id: int) -> list[TimelineEvent]:
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(TimelineEvent)
                    .where(TimelineEvent.incident_id == incident_id)
                    .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
                ).all()
            )


@pytest.fixture
def bot(db_url: str, tmp_path: Path) -> Iterator[Bot]:
    (tmp_path / "services.yaml").write_text(CATALOG)
    settings = Settings(
        database_url=db_url,
        api_token=API_KEY,
        services_file=tmp_path / "services.yaml",
        incident_channel="C0INCIDENT",
        freshness_check_s=0,
    )
    app = build_app(settings, migrate=False)
    engine = make_engine(db_url)
    client = None
    try:
        with served(app) as url:
            client = lineage_client(url, API_KEY)
            yield Bot(url, engine, app.state.runtime.catalog, client)
    finally:
        if client is not None:
            client.close()
        engine.dispose()


def succeed(bot: Bot, at: datetime, output: tuple[str, str] = FEATURES) -> str:
    run_id, events = run(JOB, at, inputs=[RAW], outputs=[output])
    emit(bot.client, events)
    return run_id


def test_a_stale_dataset_opens_one_incident_and_a_successful_run_resolves_it(bot: Bot) -> None:
    run_id = succeed(bot, T)
    assert bot.loop().check_once(now=T + timedelta(hours=5)).opened == []

    opened = bot.loop().check_once(now=T + timedelta(hours=6, minutes=1)).opened
    assert len(opened) == 1
    # Checked again, and by a restarted replica's loop: the same staleness, nothing new.
    assert bot.loop().check_once(now=T + timedelta(hours=6, minutes=2)).opened == []
    assert bot.loop().check_once(now=T + timedelta(hours=7)).written == 0

    [incident] = bot.incidents()
    assert incident.id == opened[0]
    assert (incident.source, incident.status, incident.service) == (
        "freshness",
        "firing",
        "fraud-scorer",
    )
    assert incident.group_key == f"freshness:{WH}/features.transactions"
    assert incident.slack_channel == "C0FRAUD"  # the owning service's channel
    assert incident.opened_at == T + timedelta(hours=6)  # when the objective was missed
    assert incident.title.startswith(f"Dataset {WH}/features.transactions is stale")
    [alert] = bot.alerts()
    assert (alert.fingerprint, alert.status, alert.alertname) == (
        fingerprint(FEATURES),
        "firing",
        "DatasetStale",
    )
    assert len(bot.messages(incident.id, "root_post")) == 1
    [reply] = bot.messages(incident.id, "reply")
    assert "`airflow/daily.build_transactions`" in reply.text
    assert f"`{run_id}`" in reply.text
    assert "ended *COMPLETE*" in reply.text
    assert f"`{WH}/raw.payments` (no successful run seen)" in reply.text
    assert "No later run of `airflow/daily.build_transactions` has been seen." in reply.text

    # A success posted now (real clock) ends it as it is stored, before any check runs.
    fresh_at = utcnow() - timedelta(minutes=1)
    fresh_id = succeed(bot, fresh_at)
    [incident] = bot.incidents()
    assert incident.status == "resolved"
    [alert] = bot.alerts()
    assert alert.status == "resolved"
    assert alert.ends_at is not None
    assert abs(alert.ends_at - fresh_at) < timedelta(seconds=1)
    kinds = [e.kind for e in bot.timeline(incident.id)]
    assert kinds == ["incident_opened", "alert_firing", "alert_resolved", "incident_resolved"]
    last_reply = bot.messages(incident.id, "reply")[-1]
    assert f"is fresh again: run `{fresh_id}`" in last_reply.text
    with Session(bot.engine) as s:
        summary = s.exec(
            select(IncidentSummary).where(IncidentSummary.incident_id == incident.id)
        ).one()
    assert summary.final is True
    # The post-incident summary is built from this timeline as for any alert.
    with Session(bot.engine) as s:
        draft = template_summary(s, incident.id, bot.catalog)
    assert draft.markdown.startswith(f"# Incident #{incident.id}: Dataset {WH}/features")
    assert "DatasetStale" in draft.markdown
    assert "All alerts resolved" in draft.markdown


def test_the_check_resolves_it_when_the_success_arrived_late(bot: Bot) -> None:
    succeed(bot, T)
    [opened] = bot.loop().check_once(now=T + timedelta(hours=7)).opened
    # A success of T+8h, posted now: a day old on the real clock, so not fresh when stored.
    succeed(bot, T + timedelta(hours=8))
    assert [i.status for i in bot.incidents()] == ["firing"]

    done = bot.loop().check_once(now=T + timedelta(hours=9))
    assert done.resolved == [opened]
    [incident] = bot.incidents()
    assert incident.status == "resolved"
    assert incident.resolved_at == T + timedelta(hours=8)
    # Stale again six hours after that success: a new incident, not the old one reopened.
    bot.loop().check_once(now=T + timedelta(hours=14, seconds=1))
    features = [i for i in bot.incidents() if i.labels["dataset"] == f"{WH}/features.transactions"]
    assert [(i.id == opened, i.status) for i in features] == [(True, "resolved"), (False, "firing")]


def test_a_dataset_never_produced_is_measured_from_when_opsbot_began_watching_it(
    bot: Bot,
) -> None:
    loop = bot.loop()
    assert loop.check_once(now=T).opened == []
    with Session(bot.engine) as s:
        watches = {(w.namespace, w.name): w.first_watched_at for w in s.exec(select(DatasetWatch))}
    assert watches == {FEATURES: T, SCORES: T}
    # Later passes keep the first time.
    assert loop.check_once(now=T + timedelta(hours=6)).opened == []
    with Session(bot.engine) as s:
        assert {w.first_watched_at for w in s.exec(select(DatasetWatch))} == {T}

    opened = loop.check_once(now=T + timedelta(hours=6, seconds=1)).opened
    assert len(opened) == 2  # neither dataset ever arrived
    by_dataset = {i.labels["dataset"]: i for i in bot.incidents()}
    scores = by_dataset[f"{WH}/scores.daily"]
    assert "no successful run in 6h 00m of watching" in scores.title
    [reply] = bot.messages(scores.id or 0, "reply")
    assert "since opsbot began watching it at" in reply.text
    assert "No run has named it among its outputs yet." in reply.text


def test_a_later_failed_run_of_the_producing_job_is_named_as_the_likely_why(bot: Bot) -> None:
    succeed(bot, T)
    failed_id, events = run(
        JOB,
        T + timedelta(hours=2),
        state=RunState.FAIL,
        inputs=[RAW],
        outputs=[FEATURES],
        error="disk full: /data/features <tmp>",
    )
    emit(bot.client, events)
    [opened] = bot.loop().check_once(now=T + timedelta(hours=7)).opened
    [reply] = bot.messages(opened, "reply")
    assert (
        f"A later run of `airflow/daily.build_transactions` (run `{failed_id}`) ended *FAIL*"
        in reply.text
    )
    assert "disk full: /data/features &lt;tmp&gt; — likely why." in reply.text  # data, escaped
    timeline = bot.timeline(opened)
    firing = next(e for e in timeline if e.kind == "alert_firing")
    assert any("ended *FAIL*" in line for line in firing.data["facts"])


def test_two_loops_on_one_database_open_one_incident(bot: Bot, db_url: str) -> None:
    succeed(bot, T)
    engines = [make_engine(db_url), make_engine(db_url)]
    loops = [bot.loop(e) for e in engines]
    start = threading.Barrier(len(loops))
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def one(loop: FreshnessLoop) -> None:
        try:
            start.wait()
            results.append(loop.check_once(now=T + timedelta(hours=7)).opened)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(loop,)) for loop in loops]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for e in engines:
            e.dispose()
    assert errors == []
    # `scores` never arrived but was first watched now: not stale. `transactions` is: once.
    assert sorted(len(r) for r in results) == [0, 1]
    [incident] = bot.incidents()
    assert [a.incident_id for a in bot.alerts()] == [incident.id]
    assert incident.id is not None
    assert len(bot.messages(incident.id, "root_post")) == 1


def test_the_loop_runs_in_the_fleet_only_where_datasets_have_an_objective(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "services.yaml").write_text(CATALOG)
    (tmp_path / "none.yaml").write_text("services: {fraud-scorer: {}}\n")

    def kinds(**settings: object) -> set[str]:
        app = build_app(Settings(database_url=sqlite_url, **settings), migrate=False)
        try:
            return set(background_loops(app.state.runtime))
        finally:
            app.state.runtime.engine.dispose()

    assert "freshness" in kinds(services_file=tmp_path / "services.yaml")
    assert "freshness" not in kinds(services_file=tmp_path / "services.yaml", freshness_check_s=0)
    assert "freshness" not in kinds(services_file=tmp_path / "none.yaml")


def test_the_check_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOT_FRESHNESS_CHECK_S", "15")
    assert Settings().freshness_check_s == 15
    monkeypatch.setenv("OPSBOT_FRESHNESS_CHECK_S", "-1")
    with pytest.raises(ValidationError, match=r"OPSBOT_FRESHNESS_CHECK_S|freshness_check_s"):
        Settings()
