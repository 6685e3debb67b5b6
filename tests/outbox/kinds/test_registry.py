"""Every kind of outbox message has its unit, and each unit says which Slack call sends it."""

from __future__ import annotations

from bot.outbox.kinds import KINDS
from bot.outbox.kinds.base import Call
from bot.store.models import OutboxKind


def outbox_kinds() -> set[str]:
    return {value for name, value in vars(OutboxKind).items() if not name.startswith("_")}


def test_every_outbox_kind_has_a_unit() -> None:
    assert set(KINDS) == outbox_kinds()
    assert all(unit.kind == kind for kind, unit in KINDS.items())


def test_edits_are_updates_and_the_file_an_upload() -> None:
    by_call = {call: {k for k, unit in KINDS.items() if unit.call is call} for call in Call}
    assert by_call[Call.UPDATE] == {
        OutboxKind.ROOT_UPDATE,
        OutboxKind.JOB_UPDATE,
        OutboxKind.SUMMARY_UPDATE,
        OutboxKind.STORM_UPDATE,
    }
    assert by_call[Call.UPLOAD] == {OutboxKind.FILE}
    assert by_call[Call.POST] == outbox_kinds() - by_call[Call.UPDATE] - by_call[Call.UPLOAD]
