"""``/ops report`` (and its JSON) lists the follow-ups still open: how many, the 10 oldest with
incident, owner and age; the done ones are not among them. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.chat.commands import CommandContext, run_command
from bot.incidents.follow_ups import FollowUpBook
from bot.reports.kpis import reliability_report
from bot.store.oncall_models import FollowUp
from bot.store.types import utcnow
from tests.support.asgi import asgi_client
from tests.support.payloads import am_alert, am_payload
from tests.support.store import ingest


def noted(engine: Engine, count: int) -> list[int]:
    """``count`` follow-ups on one incident, #1 owned by U0BOB, the rest by nobody."""
    [n] = ingest(engine, am_payload("fraud-scorer", [am_alert("fraud-scorer", 1)])).incidents_opened
    ctx = CommandContext(engine=engine, user="U0ALICE")
    for i in range(count):
        owner = "<@U0BOB> " if i == 0 else ""
        assert run_command(ctx, f"note #{n} todo: {owner}item {i}").ok
    with Session(engine) as session:
        return [i for i in session.exec(select(FollowUp.id).order_by(col(FollowUp.id))) if i]


def test_the_report_lists_the_open_follow_ups_oldest_first(engine: Engine) -> None:
    ids = noted(engine, 13)
    book = FollowUpBook(engine)
    assert book.complete(ids[1], by="U0CAROL")  # done: not listed
    lines = run_command(CommandContext(engine=engine), "report 7d").text.splitlines()
    at = lines.index("Follow-ups still open: 12")
    listed = lines[at + 1 : at + 12]
    assert listed[0].startswith(f"  #{ids[0]} incident #1 · owner @U0BOB · open ")
    assert listed[0].endswith(" — item 0")
    assert listed[1].startswith(f"  #{ids[2]} incident #1 · no owner · open ")
    assert len([line for line in listed if line.startswith("  #")]) == 10
    assert listed[10] == "  …and 2 more (`/ops followups`)"
    assert not any(f"#{ids[1]} " in line for line in lines)


def test_the_json_has_the_same_follow_ups(engine: Engine) -> None:
    ids = noted(engine, 2)
    FollowUpBook(engine).complete(ids[0], by="U0CAROL")
    until = utcnow() + timedelta(seconds=1)
    with Session(engine) as session:
        body = reliability_report(
            session, since=until - timedelta(days=30), until=until, change_window=timedelta(0)
        ).as_json()
    open_ = body["follow_ups_open"]
    assert open_["total"] == 1
    [item] = open_["oldest"]
    assert (item["id"], item["incident_id"], item["owner"], item["text"]) == (
        ids[1],
        1,
        None,
        "item 1",
    )
    assert 0 < item["age_s"] < 60


def test_no_follow_ups_says_none(engine: Engine) -> None:
    lines = run_command(CommandContext(engine=engine), "report").text.splitlines()
    assert lines[-1] == "Follow-ups still open: 0"


async def test_the_api_report_has_them(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(api_token="api-token")
    ids = noted(app.state.runtime.engine, 1)
    async with asgi_client(app) as api:
        response = await api.get(
            "/api/v1/report?since=7d", headers={"Authorization": "Bearer api-token"}
        )
    assert response.status_code == 200, response.text
    [item] = response.json()["follow_ups_open"]["oldest"]
    assert (item["id"], item["owner"], item["text"]) == (ids[0], "U0BOB", "item 0")
