"""The pure diff of a dataset between two runs: schema, row count, version, first and failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.lineage.diff import (
    Snapshot,
    dataset_diff,
    flatten_fields,
    row_count_change,
    schema_diff,
    version_change,
)
from bot.lineage.queries import DataChange, human


def f(name: str, type_: str | None = "string", fields: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": type_}
    if fields is not None:
        out["fields"] = fields
    return out


def test_added_removed_and_retyped_fields_are_named() -> None:
    before = [f("id", "bigint"), f("amount", "decimal(10,2)"), f("currency"), f("ts", "timestamp")]
    after = [f("id", "BIGINT"), f("ts", "string"), f("merchant")]
    assert schema_diff(before, after) == {
        "added": ["merchant"],
        "removed": ["amount", "currency"],
        "retyped": [{"field": "ts", "from": "timestamp", "to": "string"}],
    }


def test_type_case_and_unknown_types_are_not_retypes() -> None:
    assert schema_diff([f("a", "INT"), f("b", None)], [f("a", "int"), f("b", "string")]) == {
        "added": [],
        "removed": [],
        "retyped": [],
    }


def test_nested_fields_are_compared_by_path_and_a_removed_struct_is_one_change() -> None:
    before = [
        f("id"),
        f("address", "struct", [f("city"), f("zip", "int")]),
        f("geo", "struct", [f("lat", "double"), f("lon", "double")]),
    ]
    after = [f("id"), f("address", "struct", [f("city"), f("zip", "string"), f("street")])]
    assert flatten_fields(after) == {
        "id": "string",
        "address": "struct",
        "address.city": "string",
        "address.zip": "string",
        "address.street": "string",
    }
    assert schema_diff(before, after) == {
        "added": ["address.street"],
        "removed": ["geo"],
        "retyped": [{"field": "address.zip", "from": "int", "to": "string"}],
    }


def test_no_schema_on_either_side_is_no_schema_diff() -> None:
    assert schema_diff(None, [f("a")]) is None
    assert schema_diff([f("a")], None) is None


@pytest.mark.parametrize(
    ("before", "after", "pct"),
    [
        (1000, 600, -40.0),
        (1000, 1000, 0.0),
        (3, 4, 33.33),
        (0, 0, 0.0),
        (0, 500, None),  # growth from nothing has no percent
        (None, 500, None),
        (500, None, None),
    ],
)
def test_row_count_percent(before: int | None, after: int | None, pct: float | None) -> None:
    assert row_count_change(before, after) == {"before": before, "after": after, "change_pct": pct}


def test_no_row_counts_is_no_row_count_change() -> None:
    assert row_count_change(None, None) is None


def test_version_change_only_when_both_known_and_different() -> None:
    assert version_change("v1", "v2") == {"before": "v1", "after": "v2"}
    assert version_change("v1", "v1") is None
    assert version_change(None, "v2") is None


def test_first_run_has_no_diff_but_keeps_what_it_wrote() -> None:
    now = Snapshot(schema=[f("a")], row_count=10, version="3", run_id="r1")
    diff = dataset_diff(None, now, failed=False)
    assert diff["first_run"] is True
    assert diff["schema"] is diff["row_count"] is diff["version"] is None
    assert diff["current"] == {"row_count": 10, "version": "3"}


def test_second_run_diff_names_the_previous_run_and_everything_that_changed() -> None:
    old = Snapshot(schema=[f("id"), f("amount")], row_count=1000, version="7", run_id="r1")
    new = Snapshot(schema=[f("id")], row_count=600, version="8", run_id="r2")
    diff = dataset_diff(old, new, failed=True)
    assert diff == {
        "first_run": False,
        "failed": True,
        "inferred": False,
        "previous_run_id": "r1",
        "schema": {"added": [], "removed": ["amount"], "retyped": []},
        "row_count": {"before": 1000, "after": 600, "change_pct": -40.0},
        "version": {"before": "7", "after": "8"},
        "current": {"row_count": 600, "version": "8"},
    }


def test_inferred_output_of_a_failed_run_is_marked_and_not_compared() -> None:
    old = Snapshot(schema=[f("id")], row_count=1000, run_id="r1")
    diff = dataset_diff(old, None, failed=True)
    assert diff["inferred"] is True
    assert diff["failed"] is True
    assert diff["schema"] is None
    assert diff["row_count"] is None


def change(**overrides: Any) -> DataChange:
    values: dict[str, Any] = {
        "namespace": "warehouse",
        "name": "features.transactions",
        "job": "etl/build_features",
        "run_id": "r2",
        "at": datetime(2026, 11, 27, 4, 0, tzinfo=UTC),
        "state": "COMPLETE",
        "schema_added": [],
        "schema_removed": [],
        "schema_retyped": [],
        "row_count_before": None,
        "row_count_after": None,
        "row_count_pct": None,
        "version_before": None,
        "version_after": None,
        "failed": False,
        "first_run": False,
        "depth": 0,
    }
    values.update(overrides)
    return DataChange(**values)


def test_summary_reads_like_the_example() -> None:
    c = change(
        schema_removed=["amount", "currency"],
        row_count_before=1_200_000,
        row_count_after=700_000,
        row_count_pct=-41.67,
    )
    assert c.key == "warehouse/features.transactions"
    assert c.summary() == (
        "warehouse/features.transactions: 2 columns removed (amount, currency), "
        "rows -42% (1.2M → 700k)"
    )


def test_summary_of_a_failed_run_retypes_versions_and_quiet_runs() -> None:
    failed = change(state="FAIL", failed=True, error="OOMKilled\n  in stage 3")
    assert failed.summary() == (
        "warehouse/features.transactions: run FAIL in etl/build_features: OOMKilled in stage 3"
    )
    retyped = change(schema_retyped=[("ts", "timestamp", "string")], version_before="7")
    assert "1 column retyped (ts timestamp → string)" in retyped.summary()
    assert "version" not in retyped.summary()
    bumped = change(version_before="7", version_after="8", row_count_pct=2.5, row_count_before=40)
    assert bumped.summary().endswith("version 7 → 8")
    assert "rows" not in bumped.summary()  # no after count: no arrow with a blank side
    assert change().summary().endswith("no schema or row-count change")
    assert "first run seen" in change(first_run=True).summary()
    assert change(row_count_before=0, row_count_after=5000).summary().endswith("rows 0 → 5k")


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (12_345, "12.3k"),
        (999_999, "1M"),
        (2_500_000_000, "2.5B"),
    ],
)
def test_human_counts(n: int, text: str) -> None:
    assert human(n) == text
