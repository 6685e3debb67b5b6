"""The summary as a Slack reply: valid Block Kit within the limits, mentions only of actors."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.summary.build import template_summary
from tests.fakes.slack.blocks import validate_blocks
from tests.summary.conftest import (
    CATALOG,
    ROLLBACK_PLAN,
    START,
    ScriptedProm,
    at,
    write_fraud_incident,
)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e["text"] for e in block.get("elements", []) if "text" in e]
    return out


def parts(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """Each part's text by title, its sections (split at Slack's 3000 characters) joined."""
    out: dict[str, str] = {}
    title = ""
    for block in blocks:
        if block["type"] != "section":
            continue
        text = block["text"]["text"]
        first = text.split("\n", 1)[0]
        if first.startswith("*") and first.endswith("*") and "\n" in text:
            title = first.strip("*")
            out[title] = text.split("\n", 1)[1]
        else:
            out[title] += "\n" + text
    return out


def test_the_summary_is_valid_block_kit_with_every_part(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        draft = template_summary(session, story.id, CATALOG, prom=ScriptedProm(), now=at(4, 0))
    blocks = draft.slack_blocks
    assert validate_blocks(blocks) == []
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "Summary of incident #1: Fraud scorer error ratio above 5%",
        },
    }
    assert blocks[1]["elements"][0]["text"] == (
        "*Status:* resolved · *Severity:* critical · *Service:* fraud-scorer"
    )
    titles = [t.split("\n", 1)[0] for t in texts(blocks[2:-1])]
    assert titles == [
        "*What happened*",
        "*Impact*",
        "*Phases*",
        "*Cause*",
        "*Actions taken*",
        "*Follow-ups*",
        "*Timeline*",
    ]
    phases = texts(blocks)[4]
    assert "• *Time to acknowledge:* 2m 20s (at 03:06:30 UTC by <@U0ALICE>) [#4]" in phases
    timeline = texts(blocks)[-2]
    assert "[#4] 03:06:30 UTC — Acknowledged by <@U0ALICE>" in timeline
    # The fallback text tells the story and pings no one.
    assert draft.slack_text.startswith(
        "Summary of incident #1: Fraud scorer error ratio above 5% — FraudScorerErrors fired"
    )
    assert "<@" not in draft.slack_text


def test_only_people_who_acted_are_mentioned_and_outside_markup_is_inert(
    sqlite_engine: Engine,
) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        story.event(
            at(3, 29),
            "note",
            "todo: ask <@UOUTSIDER> and <!subteam^S123|@oncall>, <!here> <https://evil.example|docs>",
            "U0CAROL",
        )
        session.commit()
        draft = template_summary(session, story.id, CATALOG, now=at(4, 0))
    raw = json.dumps(draft.slack_blocks, ensure_ascii=False)
    mentions = {m.split(">", 1)[0] for m in raw.split("<@")[1:]}
    assert mentions == {"U0ALICE", "U0BOB", "U0CAROL"}
    for live in ("<!channel>", "<!here>", "<!subteam", "<https://evil", "<@UOUTSIDER>"):
        assert live not in raw
    assert "@\u200bchannel" in raw
    assert "&lt;https://evil.example|docs&gt;" in raw
    assert validate_blocks(draft.slack_blocks) == []


def test_a_long_timeline_is_cut_to_fit_and_points_to_the_export(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session, until=START)
        for i in range(300):
            story.event(at(3, 5) + i * (at(3, 5, 1) - at(3, 5)), "note", f"note {i} " + "x" * 200)
        session.commit()
        draft = template_summary(session, story.id, CATALOG, now=at(3, 30))
    blocks = draft.slack_blocks
    assert validate_blocks(blocks) == []
    assert len(blocks) <= 50
    timeline = parts(blocks)["Timeline"].splitlines()
    assert len(timeline) == 41
    assert timeline[-1] == "…and 262 more in `opsbot incidents export 1`"  # 302 events
    # The Markdown export keeps all of them.
    assert draft.markdown.count("\n- [#") == 302


def test_many_long_parts_still_fit_slacks_limits(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        for i in range(60):
            story.run(
                key=f"more-{i}",
                action="scale_deployment",
                requested_by="U0ALICE",
                dry_run=True,
                status="dry_run",
                plan={"summary": ROLLBACK_PLAN * 5},
                created_at=at(3, 30),
                updated_at=at(3, 30),
            )
            story.event(at(3, 30), "note", f"follow-up: item {i} " + "z" * 600, "U0BOB")
        session.commit()
        draft = template_summary(session, story.id, CATALOG, now=at(4, 0))
    blocks = draft.slack_blocks
    assert validate_blocks(blocks) == []
    actions = parts(blocks)["Actions taken"].splitlines()
    assert len(actions) == 26
    assert actions[-1] == "…and 37 more"  # 62 runs, 25 shown
    assert len(parts(blocks)["Timeline"].splitlines()) <= 41
    assert len(draft.slack_text) <= 1500
