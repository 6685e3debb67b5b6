"""``/ops changes <service> [since]``: deploys, model versions and data changes, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from bot.catalog.load import parse_catalog
from bot.changes.deployments import DeployEvent, record
from bot.chat.commands import CommandContext, run_command
from bot.chat.commands.lookups import parse_since
from bot.lineage import store as lineage_store
from bot.lineage.schema import parse_event
from bot.registry import store as registry_store
from bot.registry.store import Change
from bot.store.registry_models import RegistryEventKind
from bot.store.tx import run_tx
from tests.enrich.conftest import dataset, run_event

CATALOG = parse_catalog(
    "services:\n  fraud-scorer:\n    model: fraud-model\n"
    "    datasets: [{namespace: warehouse, name: features.transactions}]\n"
)
FIELDS = {"amount": "DOUBLE", "currency": "STRING"}


def deploy(
    engine: Engine, at: datetime, kind: str, version: str, service: str = "fraud-scorer"
) -> None:
    event = DeployEvent(service=service, kind=kind, version=version, timestamp=at, actor="ci")
    run_tx(engine, lambda s: record(s, event))


def lineage(engine: Engine, at: datetime, fields: dict[str, str], rows: int) -> None:
    body = run_event(
        at, job="build_features", outputs=[dataset("features.transactions", fields, rows)]
    )
    event = parse_event(json.dumps(body).encode())
    assert event is not None
    run_tx(engine, lambda s: lineage_store.record(s, event))


def test_changes_merges_deploys_models_and_data_newest_first(engine: Engine) -> None:
    now = datetime.now(UTC)
    deploy(engine, now - timedelta(hours=3), "code", "2.3.0")
    lineage(engine, now - timedelta(hours=2), FIELDS, 1000)
    deploy(engine, now - timedelta(minutes=40), "model", "1.4.2")
    lineage(engine, now - timedelta(minutes=25), {"amount": "DOUBLE"}, 500)
    deploy(engine, now - timedelta(minutes=5), "code", "2.3.1")
    deploy(engine, now - timedelta(minutes=4), "code", "9.1.0", service="payments")
    deploy(engine, now - timedelta(days=2), "code", "2.2.0")

    reply = run_command(CommandContext(engine=engine, catalog=CATALOG), "changes fraud-scorer")
    assert reply.ok
    lines = reply.text.splitlines()
    assert lines[0].startswith("Changes to fraud-scorer since ")
    body = lines[1:]
    assert "[code] fraud-scorer:2.3.1 deployed by ci" in body[0]
    assert "[data] warehouse/features.transactions" in body[1]
    assert "currency" in body[1]
    assert "-50%" in body[1]
    assert "[model] model fraud-model 1.4.2 deployed by ci" in body[2]
    assert "[data]" in body[3]  # the first run seen of the dataset
    assert "[code] fraud-scorer:2.3.0" in body[4]
    assert len(body) == 5  # not payments, not the deploy two days ago

    short = run_command(CommandContext(engine=engine, catalog=CATALOG), "changes fraud-scorer 30m")
    assert [line.split("] ", 1)[1][:12] for line in short.text.splitlines()[1:]] == [
        "fraud-scorer",
        "warehouse/fe",
    ]
    week = run_command(CommandContext(engine=engine, catalog=CATALOG), "changes fraud-scorer 7d")
    assert "fraud-scorer:2.2.0" in week.text


def test_changes_without_a_catalog_entry_lists_deploys_and_says_why_no_data(engine: Engine) -> None:
    deploy(engine, datetime.now(UTC) - timedelta(minutes=5), "code", "1.0.1", service="checkout")
    reply = run_command(CommandContext(engine=engine), "changes checkout 1h")
    assert "[code] checkout:1.0.1" in reply.text
    empty = run_command(CommandContext(engine=engine), "changes search 1h")
    assert empty.ok
    assert "No changes to search since" in empty.text
    assert "(no datasets in the catalog for it)" in empty.text


def test_changes_refuses_what_it_cannot_read(engine: Engine) -> None:
    ctx = CommandContext(engine=engine)
    assert not run_command(ctx, "changes").ok
    bad = run_command(ctx, "changes fraud-scorer yesterday-ish")
    assert not bad.ok
    assert "Could not read `yesterday-ish` as a time" in bad.text


def test_since_accepts_durations_and_times() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("6h", now) == now - timedelta(hours=6)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("90d", now) == now - timedelta(days=90)  # never quietly cut
    assert parse_since("2w", now) == now - timedelta(weeks=2)  # as `report 2w`
    assert parse_since("2026-11-27T03:00Z", now) == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert parse_since("2026-11-27T03:00", now) == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert parse_since("h", now) is None
    assert parse_since("-5m", now) is None


def test_changes_refuses_a_length_out_of_range_with_the_reason(engine: Engine) -> None:
    ctx = CommandContext(engine=engine)
    too_long = run_command(ctx, "changes fraud-scorer 400d")
    assert not too_long.ok
    assert "`400d` is out of range: from 1m to 365d" in too_long.text
    too_early = run_command(ctx, "changes fraud-scorer 1900-01-01")
    assert not too_early.ok
    assert "1900-01-01" in too_early.text


def test_changes_lists_the_services_registry_model_moves(engine: Engine) -> None:
    now = datetime.now(UTC)

    def alias(model: str, version: str, minutes: int, key: str) -> None:
        change = Change(
            dedupe_key=key,
            source="webhook",
            model=model,
            event=RegistryEventKind.ALIAS_SET,
            at=now - timedelta(minutes=minutes),
            version=version,
            alias="champion",
        )
        run_tx(engine, lambda s: registry_store.record(s, change))

    alias("fraud-model", "7", 50, "d1")
    alias("fraud-model", "8", 10, "d2")
    alias("churn-model", "3", 5, "d3")  # another service's model

    reply = run_command(CommandContext(engine=engine, catalog=CATALOG), "changes fraud-scorer 1h")
    body = reply.text.splitlines()[1:]
    assert body[0].endswith("[model] alias champion of fraud-model moved 7 → 8")
    assert body[1].endswith("[model] alias champion of fraud-model set on 7")
    assert len(body) == 2
    assert not any("churn-model" in line for line in body)
