"""Suspect ranking: the scenarios an on-call engineer would judge by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.enrich.suspects import LIKELY_CAUSE_MIN_SCORE, likely_cause, rank
from bot.enrich.types import ChangeEvent, ChangeKind, Relation

START = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
LOOKBACK = timedelta(hours=6)


def change(
    kind: ChangeKind,
    ref: str,
    minutes_before: float,
    *,
    service: str | None = "fraud-scorer",
    relation: Relation = "same_service",
    hops: int = 0,
    **details: Any,
) -> ChangeEvent:
    return ChangeEvent(
        kind=kind,
        ref=ref,
        service=service,
        at=START - timedelta(minutes=minutes_before),
        source="lineage" if kind == "data" else "deploy_event",
        summary=ref,
        relation=relation,
        details=details,
        hops=hops,
    )


def refs(changes: Sequence[ChangeEvent], **kw: Any) -> list[str]:
    return [s.ref for s in rank(changes, START, lookback=LOOKBACK, **kw)]


def test_the_services_own_deploy_right_before_is_the_top_suspect() -> None:
    deploy = change("code", "fraud-scorer:2.3.1", 6)
    older = change("code", "fraud-scorer:2.3.0", 200)
    data = change("data", "warehouse/tx", 40, relation="input_dataset", row_count_pct=-35.0)
    suspects = rank([older, data, deploy], START, lookback=LOOKBACK)
    assert [s.ref for s in suspects] == ["fraud-scorer:2.3.1", "warehouse/tx", "fraud-scorer:2.3.0"]
    assert suspects[0].reason == "fraud-scorer:2.3.1 deployed 6 min before the alert"
    assert suspects[0].score > suspects[1].score > suspects[2].score


def test_a_model_version_outranks_a_code_deploy_at_the_same_distance() -> None:
    code = change("code", "fraud-scorer:2.3.1", 10)
    model = change("model", "fraud-scorer 1.4.2", 10)
    alone = rank([model], START, lookback=LOOKBACK)
    suspects = rank([code, model], START, lookback=LOOKBACK)
    assert suspects[0].ref == "fraud-scorer 1.4.2"
    assert suspects[0].kind == "model"
    assert suspects[0].score > suspects[1].score
    assert likely_cause(alone) == "model fraud-scorer 1.4.2 deployed 10 min before the alert"


def test_an_upstream_schema_break_beats_a_routine_deploy_of_another_service() -> None:
    schema_break = change(
        "data",
        "warehouse/raw.transactions",
        25,
        relation="upstream_dataset",
        service=None,
        schema={"added": [], "removed": ["amount", "currency"], "retyped": []},
    )
    other = change("code", "payments:9.1.0", 20, service="payments", relation="other_service")
    suspects = rank([other, schema_break], START, lookback=LOOKBACK)
    assert suspects[0].ref == "warehouse/raw.transactions"
    assert "2 field(s) removed (amount, currency)" in suspects[0].reason
    assert suspects[0].reason.startswith("upstream data ")


def test_a_row_count_collapse_ranks_above_a_run_that_changed_nothing() -> None:
    collapse = change(
        "data", "warehouse/features", 30, relation="input_dataset", row_count_pct=-42.0
    )
    routine = change("data", "warehouse/labels", 29, relation="input_dataset", row_count_pct=1.0)
    suspects = rank([routine, collapse], START, lookback=LOOKBACK)
    assert [s.ref for s in suspects] == ["warehouse/features", "warehouse/labels"]
    assert "rows -42%" in suspects[0].reason
    assert "no measurable change" in suspects[1].reason
    assert suspects[1].score < LIKELY_CAUSE_MIN_SCORE


def test_two_changes_close_together_are_both_named_and_flagged() -> None:
    model = change("model", "fraud-scorer 1.4.2", 8)
    data = change(
        "data",
        "warehouse/features",
        6,
        relation="input_dataset",
        schema={"removed": [], "retyped": [["amount", "double", "string"]], "added": []},
    )
    suspects = rank([model, data], START, lookback=LOOKBACK)
    assert {s.ref for s in suspects[:2]} == {"fraud-scorer 1.4.2", "warehouse/features"}
    assert (
        "(close to warehouse/features, 2 min apart)"
        in suspects[[s.ref for s in suspects].index("fraud-scorer 1.4.2")].reason
    )
    assert all("close to" in s.reason for s in suspects)
    assert "1 field(s) retyped (amount)" in next(s for s in suspects if s.kind == "data").reason


def test_a_change_after_the_alert_started_is_never_a_suspect() -> None:
    before = change("code", "fraud-scorer:2.3.1", 45)
    after = change("model", "fraud-scorer 1.4.3", -3)  # the fix someone shipped afterwards
    too_old = change("code", "fraud-scorer:2.0.0", 60 * 7)
    assert refs([before, after, too_old]) == ["fraud-scorer:2.3.1"]


def test_nothing_changed_gives_no_suspects_and_no_likely_cause() -> None:
    assert rank([], START, lookback=LOOKBACK) == []
    assert likely_cause([]) is None


def test_an_unrelated_services_deploy_is_context_not_a_suspect() -> None:
    other = change("code", "payments:9.1.0", 2, service="payments", relation="other_service")
    own_old = change("code", "fraud-scorer:2.3.1", 90)
    assert refs([other, own_old]) == ["fraud-scorer:2.3.1"]
    assert refs([other]) == []
    assert likely_cause(rank([other], START, lookback=LOOKBACK)) is None


def test_a_dependencys_deploy_is_a_suspect_weighing_less_per_hop() -> None:
    direct = change(
        "code", "feature-store:3.0", 8, service="feature-store", relation="dependency", hops=1
    )
    far = replace(direct, ref="kafka:9", service="kafka", hops=2)
    own = change("code", "fraud-scorer:2.3.1", 8)
    suspects = rank([far, direct, own], START, lookback=LOOKBACK)
    assert [s.ref for s in suspects] == ["fraud-scorer:2.3.1", "feature-store:3.0", "kafka:9"]
    assert suspects[0].score > suspects[1].score > suspects[2].score
    assert suspects[1].reason == (
        "dependency feature-store: feature-store:3.0 deployed 8 min before the alert"
        " (close to fraud-scorer:2.3.1, less than a minute apart)"
    )
    assert suspects[2].reason.startswith("dependency kafka, 2 hops away: kafka:9 deployed")
    assert rank([direct], START, lookback=LOOKBACK)[0].score >= LIKELY_CAUSE_MIN_SCORE


def test_a_registry_alias_move_outranks_a_version_merely_registered() -> None:
    def registry(event: str, summary: str, minutes: float) -> ChangeEvent:
        return replace(
            change("model", "fraud-model 8", minutes, event=event, model="fraud-model"),
            source="registry",
            summary=summary,
        )

    registered = registry("version_created", "fraud-model version 8 registered", 9)
    moved = registry("alias_set", "alias champion of fraud-model moved 7 → 8 by alice", 12)
    suspects = rank([registered, moved], START, lookback=LOOKBACK)
    assert suspects[0].reason == (
        "alias champion of fraud-model moved 7 → 8 by alice 12 min before the alert"
    )
    assert suspects[0].score > suspects[1].score
    assert likely_cause(suspects) == suspects[0].reason


def test_a_metric_shift_after_a_change_raises_it_and_is_quoted() -> None:
    first = change("code", "fraud-scorer:2.3.1", 25)
    second = change("code", "fraud-scorer:2.3.2", 15)

    def evidence(c: ChangeEvent) -> list[str]:
        return ["error_rate +310%"] if c.ref == "fraud-scorer:2.3.1" else []

    without = refs([first, second])
    with_evidence = rank([first, second], START, lookback=LOOKBACK, evidence=evidence)
    assert without[0] == "fraud-scorer:2.3.2"
    assert with_evidence[0].ref == "fraud-scorer:2.3.1"
    assert with_evidence[0].reason.endswith("; error_rate +310% after it")


def test_a_failed_upstream_run_is_a_suspect_with_its_reason() -> None:
    failed = change("data", "warehouse/features", 12, relation="upstream_dataset", failed=True)
    suspects = rank([failed], START, lookback=LOOKBACK)
    assert (
        suspects[0].reason == "upstream data warehouse/features: run failed 12 min before the alert"
    )
    assert suspects[0].score >= LIKELY_CAUSE_MIN_SCORE


def test_suspects_serialise_in_the_read_api_shape() -> None:
    suspects = rank([change("model", "fraud-scorer 1.4.2", 6)], START, lookback=LOOKBACK)
    body = suspects[0].as_json()
    assert set(body) >= {"kind", "ref", "service", "at", "score", "reason"}
    assert body["at"] == (START - timedelta(minutes=6)).isoformat()
    assert 0 < body["score"] <= 1


def test_the_first_run_seen_for_a_dataset_is_not_a_change() -> None:
    first = change("data", "warehouse/new_table", 10, relation="input_dataset", first_run=True)
    first_failed = change(
        "data", "warehouse/other", 10, relation="input_dataset", first_run=True, failed=True
    )
    assert refs([first, first_failed]) == ["warehouse/other"]


def test_a_weak_neighbour_is_not_called_close() -> None:
    own = change("code", "fraud-scorer:2.3.1", 6)
    noise = change("code", "payments:9.1.0", 4, service="payments", relation="other_service")
    suspects = rank([own, noise], START, lookback=LOOKBACK)
    assert suspects[0].reason == "fraud-scorer:2.3.1 deployed 6 min before the alert"
