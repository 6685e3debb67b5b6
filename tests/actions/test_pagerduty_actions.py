"""pagerduty_ack, pagerduty_resolve and pagerduty_note against the HTTPS PagerDuty fake, through
the real adapter (``PagerDutyClient``) and the ``pagerduty`` library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from actions.base import ActionContext, ActionRefused, Plan, Target
from actions.pagerduty_actions import (
    MARKER_RESERVE,
    NOTE_MAX,
    AcknowledgePagerDutyIncident,
    AddPagerDutyNote,
    IncidentParams,
    NoteParams,
    ResolvePagerDutyIncident,
    note_marker,
)
from actions.registry import REGISTRY
from bot.clients.pagerduty import PagerDutyClient
from bot.errors import ExternalServiceError
from tests.fakes.pagerduty.api import PagerDutyFake

INCIDENT = "PABC123"
ACK = AcknowledgePagerDutyIncident()
RESOLVE = ResolvePagerDutyIncident()
NOTE = AddPagerDutyNote()


@pytest.fixture
def pd() -> Iterator[PagerDutyFake]:
    with PagerDutyFake() as fake:
        fake.add_incident(INCIDENT, "Fraud scorer errors", number=123)
        yield fake
        assert fake.fake_errors() == []


@pytest.fixture
def client(pd: PagerDutyFake) -> Iterator[PagerDutyClient]:
    adapter = PagerDutyClient(
        pd.api_token, base_url=pd.url, from_email=pd.from_email, verify=str(pd.cert_path)
    )
    yield adapter
    adapter.close()


def context(client: PagerDutyClient | None, key: str = "run-1") -> ActionContext:
    return ActionContext(actor="U0ONCALL", key=key, pagerduty=client)


def writes(pd: PagerDutyFake) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in pd.requests() if r["method"] != "GET"]


def params(**raw: Any) -> IncidentParams:
    return ACK.parse({"incident_id": INCIDENT, **raw})


def test_the_three_actions_are_registered_as_writes() -> None:
    for name, cls in [
        ("pagerduty_ack", AcknowledgePagerDutyIncident),
        ("pagerduty_resolve", ResolvePagerDutyIncident),
        ("pagerduty_note", AddPagerDutyNote),
    ]:
        assert isinstance(REGISTRY[name], cls)
        assert REGISTRY[name].writes is True
        assert REGISTRY[name].description


@pytest.mark.parametrize("incident_id", ["PABC123", "Q2J4W4IIFHBJE5", "P1"])
def test_takes_pagerduty_incident_ids(incident_id: str) -> None:
    assert ACK.parse({"incident_id": incident_id}).incident_id == incident_id


@pytest.mark.parametrize(
    "raw",
    [
        {"incident_id": "123"},
        {"incident_id": "pabc123"},
        {"incident_id": "PABC123/notes"},
        {"incident_id": "P"},
        {},
        {"incident_id": "PABC123", "status": "resolved"},
    ],
)
def test_refuses_other_params(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACK.parse(raw)


def test_target_is_the_pagerduty_incident(client: PagerDutyClient) -> None:
    assert ACK.target(context(client), params()) == Target(None, "pagerduty/PABC123")
    note = NOTE.parse({"incident_id": INCIDENT, "content": "x"})
    assert NOTE.target(context(client), note) == Target(None, "pagerduty/PABC123")


# -- acknowledge --------------------------------------------------------------------------------


def test_ack_plan_says_what_changes_and_writes_nothing(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    plan = ACK.plan(context(client), params())
    assert plan.summary == (
        "Acknowledge PagerDuty incident #123 (PABC123) 'Fraud scorer errors' (currently triggered)"
    )
    assert plan.noop is False
    assert "status: triggered → acknowledged" in plan.lines
    assert "as opsbot@example.com" in plan.lines
    assert plan.pinned == {"incident_id": INCIDENT, "incident_number": 123, "status": "triggered"}
    assert writes(pd) == []
    assert pd.incident(INCIDENT)["status"] == "triggered"


def test_ack_apply_acknowledges_once_and_a_second_apply_puts_nothing(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    ctx = context(client)
    plan = ACK.plan(ctx, params())
    result = ACK.apply(ctx, params(), plan)
    assert result.ok
    assert result.summary == "Acknowledged PagerDuty incident #123 (PABC123) 'Fraud scorer errors'"
    assert result.data["changed"] is True
    assert result.data["status"] == "acknowledged"
    assert pd.incident(INCIDENT)["status"] == "acknowledged"

    again = ACK.apply(ctx, params(), plan)  # a retry after success
    assert again.ok
    assert again.data["changed"] is False
    assert "already acknowledged" in again.summary
    assert writes(pd) == [("PUT", f"/incidents/{INCIDENT}")]


@pytest.mark.parametrize("status", ["acknowledged", "resolved"])
def test_ack_plan_is_a_noop_when_already_acknowledged_or_resolved(
    client: PagerDutyClient, pd: PagerDutyFake, status: str
) -> None:
    pd.change_status(INCIDENT, status)
    plan = ACK.plan(context(client), params())
    assert plan.noop is True
    assert plan.summary == (
        f"PagerDuty incident #123 (PABC123) 'Fraud scorer errors' is already {status}: "
        "nothing to acknowledge"
    )


def test_ack_after_someone_acked_in_pagerduty_reports_done_without_a_put(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    ctx = context(client)
    plan = ACK.plan(ctx, params())
    pd.add_user("dana@example.com", "Dana")
    pd.change_status(INCIDENT, "acknowledged", by="dana@example.com")
    result = ACK.apply(ctx, params(), plan)
    assert result.ok
    assert result.data["changed"] is False
    assert writes(pd) == []
    [ack] = pd.incident(INCIDENT)["acknowledgements"]
    assert ack["acknowledger"]["summary"] == "Dana"


class _ResolvedMeanwhile(PagerDutyClient):
    """Someone resolves the incident in PagerDuty between apply's read and its PUT."""

    def __init__(self, fake: PagerDutyFake) -> None:
        super().__init__(
            fake.api_token,
            base_url=fake.url,
            from_email=fake.from_email,
            verify=str(fake.cert_path),
        )
        self.fake = fake

    def acknowledge(self, incident_id: str) -> dict[str, Any]:
        self.fake.change_status(incident_id, "resolved")
        return super().acknowledge(incident_id)


def test_ack_losing_a_race_to_a_resolve_reports_done(pd: PagerDutyFake) -> None:
    racing = _ResolvedMeanwhile(pd)
    ctx = context(racing)
    plan = ACK.plan(ctx, params())
    result = ACK.apply(ctx, params(), plan)
    racing.close()
    assert result.ok
    assert result.data == {
        "incident_id": INCIDENT,
        "incident_number": 123,
        "status": "resolved",
        "html_url": pd.incident(INCIDENT)["html_url"],
        "changed": False,
    }
    assert [r["status"] for r in pd.requests(method="PUT")] == [400]


def test_apply_refuses_a_plan_for_another_incident(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    plan = Plan("Acknowledge PagerDuty incident #7", pinned={"incident_id": "POTHER1"})
    with pytest.raises(ActionRefused, match="POTHER1"):
        ACK.apply(context(client), params(), plan)
    assert writes(pd) == []


def test_unknown_incident_is_refused(client: PagerDutyClient) -> None:
    with pytest.raises(ActionRefused, match="PagerDuty has no incident PNOPE00"):
        ACK.plan(context(client), ACK.parse({"incident_id": "PNOPE00"}))


def test_a_rate_limit_that_outlasts_the_retries_is_a_pagerduty_error(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    ctx = context(client)
    plan = ACK.plan(ctx, params())
    pd.rate_limit_next(1, retry_after=60, method="PUT")
    with pytest.raises(ExternalServiceError) as info:
        ACK.apply(ctx, params(), plan)
    assert info.value.status == 429
    assert pd.incident(INCIDENT)["status"] == "triggered"


# -- resolve ------------------------------------------------------------------------------------


def test_resolve_from_acknowledged_then_a_retry_puts_nothing(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    pd.change_status(INCIDENT, "acknowledged")
    ctx = context(client)
    plan = RESOLVE.plan(ctx, params())
    assert plan.summary == (
        "Resolve PagerDuty incident #123 (PABC123) 'Fraud scorer errors' (currently acknowledged)"
    )
    assert plan.noop is False
    result = RESOLVE.apply(ctx, params(), plan)
    assert result.ok
    assert result.summary == "Resolved PagerDuty incident #123 (PABC123) 'Fraud scorer errors'"
    assert pd.incident(INCIDENT)["status"] == "resolved"
    assert RESOLVE.apply(ctx, params(), plan).data["changed"] is False
    assert writes(pd) == [("PUT", f"/incidents/{INCIDENT}")]
    assert RESOLVE.plan(ctx, params()).noop is True


def test_resolve_plan_is_not_a_noop_while_only_acknowledged(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    pd.change_status(INCIDENT, "acknowledged")
    assert RESOLVE.plan(context(client), params()).noop is False
    assert ACK.plan(context(client), params()).noop is True


# -- notes --------------------------------------------------------------------------------------


def note_params(content: str = "Rolled back fraud-scorer to 1.4.1") -> NoteParams:
    return NOTE.parse({"incident_id": INCIDENT, "content": content})


def test_note_plan_quotes_the_note_and_writes_nothing(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    plan = NOTE.plan(context(client), note_params())
    assert plan.summary == (
        "Add a note to PagerDuty incident #123 (PABC123) 'Fraud scorer errors': "
        "'Rolled back fraud-scorer to 1.4.1'"
    )
    assert plan.noop is False
    assert plan.pinned["marker"] == note_marker("run-1", INCIDENT, "x").strip()
    assert writes(pd) == []


def test_note_is_added_once_per_key(client: PagerDutyClient, pd: PagerDutyFake) -> None:
    ctx = context(client, key="run-42")
    plan = NOTE.plan(ctx, note_params())
    first = NOTE.apply(ctx, note_params(), plan)
    assert first.ok
    assert first.data["changed"] is True
    [note] = pd.notes(INCIDENT)
    marker = note_marker("run-42", INCIDENT, "")
    assert note["content"] == "Rolled back fraud-scorer to 1.4.1" + marker
    assert marker.startswith("\n— opsbot ")
    assert first.data["note_id"] == note["id"]

    retry = NOTE.apply(ctx, note_params(), plan)  # the run is retried after success
    assert retry.ok
    assert retry.data["changed"] is False
    assert retry.data["note_id"] == note["id"]
    assert len(pd.notes(INCIDENT)) == 1
    assert writes(pd) == [("POST", f"/incidents/{INCIDENT}/notes")]
    assert NOTE.plan(ctx, note_params()).noop is True

    other_run = context(client, key="run-43")
    NOTE.apply(other_run, note_params(), NOTE.plan(other_run, note_params()))
    assert len(pd.notes(INCIDENT)) == 2


def test_without_a_key_the_same_note_is_added_once(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    ctx = context(client, key="")
    plan = NOTE.plan(ctx, note_params())
    NOTE.apply(ctx, note_params(), plan)
    NOTE.apply(ctx, note_params(), plan)
    NOTE.apply(ctx, note_params("something else"), NOTE.plan(ctx, note_params("something else")))
    assert [n["content"].split("\n")[0] for n in pd.notes(INCIDENT)] == [
        "Rolled back fraud-scorer to 1.4.1",
        "something else",
    ]


def test_the_longest_note_allowed_still_fits_pagerdutys_limit_with_its_marker(
    client: PagerDutyClient, pd: PagerDutyFake
) -> None:
    longest = "x" * (NOTE_MAX - MARKER_RESERVE)
    ctx = context(client)
    assert NOTE.apply(ctx, note_params(longest), NOTE.plan(ctx, note_params(longest))).ok
    assert len(pd.notes(INCIDENT)[0]["content"]) <= 25_000
    with pytest.raises(ValidationError):
        note_params("x" * 25_000)


@pytest.mark.parametrize("content", ["", "  \n "])
def test_refuses_a_blank_note(content: str) -> None:
    with pytest.raises(ValidationError):
        note_params(content)


# -- not configured -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", [ACK, RESOLVE, NOTE])
def test_refuses_when_pagerduty_is_not_configured(action: Any) -> None:
    raw = {"incident_id": INCIDENT, "content": "x"} if action is NOTE else {"incident_id": INCIDENT}
    p = action.parse(raw)
    ctx = context(None)
    with pytest.raises(ActionRefused, match=r"^PagerDuty is not configured$"):
        action.plan(ctx, p)
    with pytest.raises(ActionRefused, match=r"^PagerDuty is not configured$"):
        action.apply(ctx, p, Plan("x", pinned={"incident_id": INCIDENT}))
