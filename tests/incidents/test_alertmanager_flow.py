"""Dedupe, grouping and lifecycle of Alertmanager deliveries, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tests.support.payloads import am_alert, am_payload
from tests.support.store import alerts, incidents, ingest, outbox, timeline_kinds


def test_first_firing_opens_incident_with_root_post_and_reply(
    engine: Engine, firing: dict[str, Any]
) -> None:
    result = ingest(engine, firing)
    [incident] = incidents(engine)
    assert result.incidents_opened == [incident.id]
    assert incident.status == "firing"
    assert incident.title == "Payments incident on payments"
    assert (incident.severity, incident.service) == ("critical", "payments")
    assert incident.runbook_url == "https://runbooks.example/payments"
    assert incident.opened_at == datetime(2026, 11, 27, 4, 55, 5, 553000, tzinfo=UTC)
    assert [m.kind for m in outbox(engine)] == ["root_post", "reply"]
    assert timeline_kinds(engine, incident.id) == ["incident_opened", "alert_firing"]


def test_identical_redelivery_is_deduplicated(engine: Engine, firing: dict[str, Any]) -> None:
    ingest(engine, firing)
    again = ingest(engine, firing)
    assert again.duplicate_delivery
    assert len(incidents(engine)) == 1
    assert len(outbox(engine)) == 2


def test_ha_peer_resend_with_other_body_is_deduplicated_per_alert(
    engine: Engine, firing: dict[str, Any]
) -> None:
    ingest(engine, firing)
    peer = copy.deepcopy(firing)
    peer["externalURL"] = "http://alertmanager-2:9093"  # another body, the same alert
    result = ingest(engine, peer)
    assert not result.duplicate_delivery
    assert result.alerts_deduplicated == 1
    assert result.alerts_new == 0
    assert len(outbox(engine)) == 2  # no second root, no second reply


def test_new_alert_in_same_group_joins_open_incident(engine: Engine) -> None:
    ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)]))
    result = ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 2)]))
    [incident] = incidents(engine)
    assert result.incidents_opened == []
    assert result.incidents_touched == [incident.id]
    assert [a.incident_id for a in alerts(engine)] == [incident.id, incident.id]
    # The joining alert asks for a root redraw (folded into the post if that still waits).
    assert [m.kind for m in outbox(engine)] == ["root_post", "reply", "root_update", "reply"]


def test_incident_resolves_only_when_all_alerts_resolved(engine: Engine) -> None:
    a1, a2 = am_alert("svc", 1), am_alert("svc", 2)
    ingest(engine, am_payload("svc", [a1, a2]))
    r1 = ingest(engine, am_payload("svc", [am_alert("svc", 1, status="resolved"), a2]))
    assert r1.incidents_resolved == []
    assert incidents(engine)[0].status == "firing"
    r2 = ingest(engine, am_payload("svc", [am_alert("svc", 2, status="resolved")]))
    [incident] = incidents(engine)
    assert r2.incidents_resolved == [incident.id]
    assert incident.status == "resolved"
    assert incident.resolved_at == datetime(2026, 11, 27, 4, 5, tzinfo=UTC)  # the alert's endsAt
    assert timeline_kinds(engine, incident.id)[-1] == "incident_resolved"
    kinds = [m.kind for m in outbox(engine)]
    assert kinds == ["root_post", "reply", "root_update", "reply", "root_update", "reply"]


def test_after_resolve_a_new_firing_opens_a_new_incident(engine: Engine) -> None:
    ingest(engine, am_payload("svc", [am_alert("svc", 1)]))
    ingest(engine, am_payload("svc", [am_alert("svc", 1, status="resolved")]))
    later = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    result = ingest(engine, am_payload("svc", [am_alert("svc", 1, starts_at=later)]))
    first, second = incidents(engine)
    assert result.incidents_opened == [second.id]
    assert (first.status, second.status) == ("resolved", "firing")
    assert first.group_key == second.group_key


def test_resolved_before_firing_never_reopens(engine: Engine) -> None:
    resolved_first = ingest(engine, am_payload("svc", [am_alert("svc", 1, status="resolved")]))
    late_firing = ingest(engine, am_payload("svc", [am_alert("svc", 1)]))
    [incident] = incidents(engine)
    [alert] = alerts(engine)
    assert resolved_first.incidents_opened == [incident.id]
    assert late_firing.alerts_deduplicated == 1
    assert late_firing.incidents_opened == []
    assert (alert.status, incident.status) == ("resolved", "resolved")
    assert [m.kind for m in outbox(engine)] == ["root_post", "reply"]


def test_repeated_firing_at_repeat_interval_is_not_a_new_message(engine: Engine) -> None:
    payload = am_payload("svc", [am_alert("svc", 1)])
    ingest(engine, payload)
    repeat = copy.deepcopy(payload)
    repeat["alerts"][0]["annotations"]["description"] = "still bad"
    assert ingest(engine, repeat).alerts_deduplicated == 1
    assert len(outbox(engine)) == 2


def test_duplicate_alert_inside_one_delivery_counts_once(engine: Engine) -> None:
    a = am_alert("svc", 1)
    result = ingest(engine, am_payload("svc", [a, copy.deepcopy(a)]))
    assert (result.alerts_new, result.alerts_deduplicated) == (1, 1)
    assert len(alerts(engine)) == 1


def test_groups_get_separate_incidents(engine: Engine) -> None:
    ingest(engine, am_payload("svc-a", [am_alert("svc-a", 1)]))
    ingest(engine, am_payload("svc-b", [am_alert("svc-b", 1)]))
    assert sorted(i.service or "" for i in incidents(engine)) == ["svc-a", "svc-b"]


def test_status_and_start_times_survive_the_round_trip(engine: Engine) -> None:
    start = datetime(2026, 11, 27, 4, 0, 0, 123000, tzinfo=UTC)
    ingest(engine, am_payload("svc", [am_alert("svc", 1, starts_at=start)]))
    [alert] = alerts(engine)
    assert alert.starts_at == start
    assert alert.starts_at.tzinfo is not None
    assert alert.ends_at is None
    assert start + timedelta(0) == alert.starts_at


def test_refire_after_a_lost_resolved_ends_the_older_occurrence(engine: Engine) -> None:
    """The resolved for occurrence 1 never arrived; occurrence 2 of the same fingerprint ends it,
    so the incident can still resolve when occurrence 2 does."""
    first = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    second = first + timedelta(hours=1)
    ingest(engine, am_payload("svc", [am_alert("svc", 1, starts_at=first)]))
    ingest(engine, am_payload("svc", [am_alert("svc", 1, starts_at=second)]))
    older, newer = alerts(engine)
    assert (older.status, older.ends_at) == ("resolved", second)
    assert newer.status == "firing"
    ingest(engine, am_payload("svc", [am_alert("svc", 1, starts_at=second, status="resolved")]))
    [incident] = incidents(engine)
    assert incident.status == "resolved"


def test_mentions_in_alert_text_cannot_ping_the_channel(engine: Engine) -> None:
    from bot.render.blocks import alerts_reply, root_message

    payload = am_payload("svc", [am_alert("svc", 1)])
    payload["commonAnnotations"]["summary"] = "<!channel> wake up <@U123>"
    payload["alerts"][0]["annotations"]["summary"] = "<!here> <https://evil.example|docs>"
    ingest(engine, payload)
    [incident] = incidents(engine)
    text, _ = root_message(incident, 1, 1)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    reply_text = alerts_reply(alerts(engine))[1][0]["text"]["text"]
    assert "<!here>" not in reply_text
    assert "<https://evil.example|docs>" not in reply_text
