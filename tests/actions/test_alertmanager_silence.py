"""``silence_alerts`` and ``expire_silence`` through the one execution path (policy, audit, dry run,
once-only), against the real Alertmanager on loopback and the store on SQLite and PostgreSQL.

What a silence must do is shown where it matters: Alertmanager holds it with the incident's group
labels, its end and opsbot's comment; it suppresses the next notification of a matching alert
while a control alert is delivered; expired, the matching alert is notified again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from actions.alertmanager_silence import ExpireSilence, SilenceAlerts, silence_marker
from actions.base import ActionRefused, Plan
from actions.registry import REGISTRY
from bot.audit.log import read
from bot.catalog.load import parse_catalog
from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.set import Clients
from bot.runner.execute import Executor
from bot.store.models import OutboxMessage, TimelineEvent
from bot.store.oncall_models import Silence
from bot.store.run_models import RunStatus
from tests.support.alertmanager import SilencingStack
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest

pytestmark = pytest.mark.integration

ALERT = "SilenceTest"
CATALOG = parse_catalog("""
policy:
  groups: {oncall: [U0ALICE]}
  rules:
    - actions: [silence_alerts, expire_silence]
      run: ["@oncall"]
      approval: none
""")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SilencingStack]:
    with SilencingStack(tmp_path_factory.mktemp("alertmanager")) as running:
        yield running


@pytest.fixture
def executor(engine: Engine, stack: SilencingStack) -> Iterator[Executor]:
    with AlertmanagerClient(stack.url, timeout_s=5) as client:
        yield Executor(engine, CATALOG, Clients(alertmanager=client))


def incident(engine: Engine) -> tuple[int, dict[str, str]]:
    """An Alertmanager incident of a service of its own; its group labels."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    opened = ingest(
        engine, am_payload(service, [am_alert(service, 1, alertname=ALERT)], alertname=ALERT)
    )
    return opened.incidents_opened[0], {"alertname": ALERT, "service": service}


def silence(
    executor: Executor,
    incident_id: int,
    matchers: dict[str, str],
    *,
    hours: float = 4,
    actor: str = "U0ALICE",
    **kwargs: Any,
) -> Any:
    ends = (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)
    return executor.request(
        "silence_alerts",
        {"incident_id": incident_id, "matchers": matchers, "ends_at": ends.isoformat()},
        actor=actor,
        incident_id=incident_id,
        **kwargs,
    )


def rows(engine: Engine) -> list[Silence]:
    with Session(engine) as session:
        return list(session.exec(select(Silence).order_by(col(Silence.id))).all())


def timeline(engine: Engine, incident_id: int) -> list[TimelineEvent]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(TimelineEvent)
                .where(TimelineEvent.incident_id == incident_id)
                .order_by(col(TimelineEvent.id))
            ).all()
        )


def test_both_actions_are_registered_as_writes() -> None:
    assert isinstance(REGISTRY["silence_alerts"], SilenceAlerts)
    assert isinstance(REGISTRY["expire_silence"], ExpireSilence)
    assert REGISTRY["silence_alerts"].writes
    assert REGISTRY["expire_silence"].writes
    assert not REGISTRY["silence_alerts"].remediates


def test_an_allowed_person_silences_the_incidents_group_in_alertmanager(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    view = silence(executor, incident_id, group, key="silence-allowed")
    assert view.status == RunStatus.SUCCEEDED, view.message
    assert view.message.startswith(
        f'Done: Silenced alerts matching alertname="{ALERT}", service="{group["service"]}" until'
    )

    [made] = stack.silences(service=group["service"])
    assert made["id"] == view.result["data"]["silence_id"]
    assert made["status"]["state"] == "active"
    assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in made["matchers"]} == {
        (k, v, False, True) for k, v in group.items()
    }
    assert made["endsAt"].startswith(view.result["data"]["ends_at"][:19])
    params = SilenceAlerts().parse(
        {"incident_id": incident_id, "matchers": group, "ends_at": view.result["data"]["ends_at"]}
    )
    marker = silence_marker("silence-allowed", params).strip()
    assert made["comment"] == (
        f"Silenced from opsbot by <@U0ALICE> for incident #{incident_id} {marker}"
    )
    assert made["createdBy"] == "opsbot (U0ALICE)"

    [row] = rows(engine)
    assert (row.id, row.incident_id, row.silence_id) == (
        view.result["data"]["silence"],
        incident_id,
        made["id"],
    )
    assert (row.created_by, row.expired_at) == ("U0ALICE", None)
    kinds = [e.kind for e in timeline(engine, incident_id)]
    assert "silence_created" in kinds
    with Session(engine) as session:
        queued = session.exec(
            select(OutboxMessage).where(OutboxMessage.incident_id == incident_id)
        ).all()
    assert any(m.kind == "reply" and "silenced alerts matching" in m.text for m in queued)
    assert any(m.kind == "root_update" for m in queued)
    with Session(engine) as session:
        [audited] = [e for e in read(session) if e.event == "succeeded"]
    assert (audited.action, audited.actor) == ("silence_alerts", "U0ALICE")


def test_a_retried_apply_makes_no_second_silence(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    view = silence(executor, incident_id, group, key="silence-retry")
    assert view.status == RunStatus.SUCCEEDED, view.message
    action = SilenceAlerts()
    params = action.parse(
        {"incident_id": incident_id, "matchers": group, "ends_at": view.plan["pinned"]["ends_at"]}
    )
    ctx = executor.context("U0ALICE", "silence-retry", incident_id)
    again = action.apply(ctx, params, Plan(**view.plan))
    assert again.ok
    assert again.data["changed"] is False
    assert again.data["silence_id"] == view.result["data"]["silence_id"]
    assert silence(executor, incident_id, group, key="silence-retry").message == (
        "already requested"
    )
    assert len(stack.silences(service=group["service"])) == 1

    # A crash after Alertmanager made the silence, before opsbot recorded it: the retry finds
    # the silence by its marker and records it, without a second one.
    lost = replace(executor.context("U0ALICE", "silence-crash", incident_id), silences=None)
    first = action.apply(lost, params, Plan(**view.plan))
    assert first.data["changed"] is True
    assert first.data["silence"] is None
    retried = action.apply(
        executor.context("U0ALICE", "silence-crash", incident_id), params, Plan(**view.plan)
    )
    assert retried.data["changed"] is False
    assert retried.data["silence_id"] == first.data["silence_id"]
    assert len(stack.silences(service=group["service"])) == 2  # one per key, not per try
    assert [r.silence_id for r in rows(engine)] == [
        view.result["data"]["silence_id"],
        first.data["silence_id"],
    ]


def test_a_person_the_policy_refuses_silences_nothing_and_is_audited(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    view = silence(executor, incident_id, group, actor="U0MALLORY")
    assert view.status == RunStatus.REFUSED
    assert view.message == "Refused: U0MALLORY may not run silence_alerts: allowed are @oncall"
    assert stack.silences(service=group["service"]) == []
    assert rows(engine) == []
    with Session(engine) as session:
        refused = [e for e in read(session) if e.event == RunStatus.REFUSED]
    assert [(e.actor, e.action) for e in refused] == [("U0MALLORY", "silence_alerts")]
    assert "action_refused" in [e.kind for e in timeline(engine, incident_id)]


def test_a_dry_run_shows_what_would_be_matched_and_makes_nothing(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    stack.fire({**group, "instance": "a"}, {**group, "instance": "b"})
    view = silence(executor, incident_id, group, dry_run=True)
    assert view.status == RunStatus.DRY_RUN
    assert view.message.startswith(
        f'Dry run, nothing changed. Would: Silence alerts matching alertname="{ALERT}", '
        f'service="{group["service"]}" in Alertmanager until'
    )
    assert view.plan["lines"][0] == f"matches 2 alerts Alertmanager holds now ({ALERT})"
    assert view.plan["pinned"]["matchers"] == group
    assert stack.silences(service=group["service"]) == []
    assert rows(engine) == []


def test_a_silence_already_covering_the_window_is_nothing_to_do(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    assert silence(executor, incident_id, group, hours=4).status == RunStatus.SUCCEEDED
    shorter = silence(executor, incident_id, group, hours=1)
    assert shorter.status == RunStatus.SUCCEEDED
    assert shorter.message.startswith(
        f'Done: Nothing to do: Alerts matching alertname="{ALERT}", '
        f'service="{group["service"]}" are already silenced until'
    )
    assert len(stack.silences(service=group["service"])) == 1
    longer = silence(executor, incident_id, group, hours=6)
    assert longer.status == RunStatus.SUCCEEDED
    assert "Nothing to do" not in longer.message
    assert len(stack.silences(service=group["service"])) == 2


def test_the_silence_suppresses_the_next_notification_until_it_is_expired(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    control = {**group, "service": group["service"] + "-control"}
    view = silence(executor, incident_id, group)
    assert view.status == RunStatus.SUCCEEDED, view.message
    silence_id = view.result["data"]["silence_id"]

    stack.fire({**group, "severity": "critical"})

    def suppressed() -> bool:
        return [
            (a["status"]["state"], a["status"]["silencedBy"]) for a in stack.alerts(**group)
        ] == [("suppressed", [silence_id])]

    stack.wait_until(suppressed, "the matching alert suppressed by the silence")
    # The control alert's group starts after the silenced one's: once the control is notified
    # (group_wait 1 s), the silenced group's first notification was due before it.
    stack.fire(control)
    stack.wait_until(lambda: stack.notified(control), "the control alert notified")
    assert not stack.notified(group)
    assert [a["status"]["state"] for a in stack.alerts(**control)] == ["active"]

    expired = executor.request(
        "expire_silence", {"silence_id": silence_id}, actor="U0ALICE", incident_id=incident_id
    )
    assert expired.status == RunStatus.SUCCEEDED, expired.message
    assert expired.message.startswith(f"Done: Expired silence {view.result['data']['silence']} (")
    [made] = stack.silences(service=group["service"])
    assert made["status"]["state"] == "expired"
    # Unsilenced, the same alert is notified at its group's next interval (2 s).
    stack.wait_until(lambda: stack.notified(group), "the matching alert notified once expired")

    [row] = rows(engine)
    assert row.expired_by == "U0ALICE"
    assert row.expired_at is not None
    events = [(e.kind, e.actor) for e in timeline(engine, incident_id)]
    assert ("silence_created", "U0ALICE") in events
    assert ("silence_expired", "U0ALICE") in events

    again = executor.request(
        "expire_silence", {"silence_id": silence_id}, actor="U0ALICE", incident_id=incident_id
    )
    assert again.status == RunStatus.SUCCEEDED
    assert again.message.startswith("Done: Nothing to do: Silence 1 (")
    assert again.message.endswith("is already expired")


def test_a_silence_expired_in_alertmanagers_ui_is_recorded_as_such(
    engine: Engine, executor: Executor, stack: SilencingStack
) -> None:
    incident_id, group = incident(engine)
    view = silence(executor, incident_id, group)
    silence_id = view.result["data"]["silence_id"]
    assert executor.clients.alertmanager is not None
    executor.clients.alertmanager.expire_silence(silence_id)  # someone, in Alertmanager

    plan = executor.request(
        "expire_silence", {"silence_id": silence_id}, actor="U0ALICE", dry_run=True
    )
    assert plan.plan["summary"].endswith("was expired in Alertmanager already: record that here")
    done = executor.request("expire_silence", {"silence_id": silence_id}, actor="U0ALICE")
    assert done.status == RunStatus.SUCCEEDED
    assert done.result["data"]["changed"] is False
    [row] = rows(engine)
    assert row.expired_by == "alertmanager"


def test_unknown_silences_and_missing_settings_are_refused(
    engine: Engine, executor: Executor
) -> None:
    unknown = executor.request("expire_silence", {"silence_id": str(uuid.uuid4())}, actor="U0ALICE")
    assert unknown.status == RunStatus.REFUSED
    assert unknown.message.startswith("Refused: Alertmanager has no silence ")

    missing = executor.request(
        "silence_alerts",
        {
            "incident_id": 999,
            "matchers": {"alertname": ALERT, "service": "nowhere"},
            "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
        actor="U0ALICE",
    )
    assert missing.status == RunStatus.REFUSED
    assert missing.message == "Refused: There is no incident #999."

    bare = Executor(engine, CATALOG, Clients())
    incident_id, group = incident(engine)
    refused = silence(bare, incident_id, group)
    assert refused.status == RunStatus.REFUSED
    assert "OPSBOT_ALERTMANAGER_URL" in refused.message


def test_an_end_that_passed_before_the_approval_is_refused(
    engine: Engine, executor: Executor
) -> None:
    incident_id, group = incident(engine)
    action = SilenceAlerts()
    params = action.parse(
        {
            "incident_id": incident_id,
            "matchers": group,
            "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        }
    )
    later = replace(
        executor.context("U0ALICE", "late", incident_id),
        clock=lambda: datetime.now(UTC) + timedelta(hours=2),
    )
    with pytest.raises(ActionRefused, match="is not in the future"):
        action.plan(later, params)
    with pytest.raises(ActionRefused, match="which has passed"):
        action.apply(later, params, Plan(summary="approved an hour ago"))
    too_far = action.parse(
        {
            "incident_id": incident_id,
            "matchers": group,
            "ends_at": (datetime.now(UTC) + timedelta(days=8)).isoformat(),
        }
    )
    with pytest.raises(ActionRefused, match="more than 7 days away"):
        action.plan(executor.context("U0ALICE", "far", incident_id), too_far)


@pytest.mark.parametrize(
    ("matchers", "error"),
    [
        ({}, "at least 1 item"),
        ({"0bad": "x"}, "'0bad' is not a label name"),
        ({"service": ""}, "label 'service' has no value to match"),
        (["service"], "'service' is not name=value"),
        (["service=a", "service=b"], "label 'service' is matched twice"),
    ],
)
def test_matchers_are_checked_before_anything_runs(matchers: Any, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        SilenceAlerts().parse(
            {"incident_id": 1, "matchers": matchers, "ends_at": "2026-12-08T14:00:00Z"}
        )


def test_matchers_may_be_written_as_name_value_and_times_need_a_zone() -> None:
    params = SilenceAlerts().parse(
        {
            "incident_id": 1,
            "matchers": ["service=fraud-scorer", "alertname=A=B"],
            "ends_at": "2026-12-08T15:00:00+01:00",
        }
    )
    assert params.matchers == {"alertname": "A=B", "service": "fraud-scorer"}
    assert params.ends_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    with pytest.raises(ValidationError, match="timezone"):
        SilenceAlerts().parse(
            {"incident_id": 1, "matchers": {"a": "b"}, "ends_at": "2026-12-08T14:00:00"}
        )
    with pytest.raises(ValidationError, match="silence_id"):
        ExpireSilence().parse({"silence_id": "../../status"})
