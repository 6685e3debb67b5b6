"""The template summary: golden Markdown for the scripted incident, and how it reads at the edges.

The golden files were checked line by line against the story in ``conftest.py``: 03:04:10 to
03:25:20 is 21m 10s; detect 02:58:40 → 03:04:10 is 5m 30s; acknowledge 2m 20s; the rollback
succeeded at 03:12:05, 7m 55s in; 250 predictions/s for 1270 s is 317,500.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.catalog.model import Catalog
from bot.store.models import Incident, IncidentStatus, TimelineEvent
from bot.summary.build import template_summary
from bot.summary.markdown import md_block_safe, md_inline
from bot.summary.words import human
from tests.summary.conftest import (
    CATALOG,
    START,
    ScriptedProm,
    at,
    prom_down,
    write_fraud_incident,
)
from tests.support.markdown import section

GOLDEN = Path(__file__).parent / "golden"


def test_a_resolved_incident_matches_the_golden_summary(engine: Engine) -> None:
    with Session(engine) as session:
        story = write_fraud_incident(session)
        draft = template_summary(session, story.id, CATALOG, prom=ScriptedProm(), now=at(4, 0))
    assert draft.markdown == (GOLDEN / "fraud-scorer-resolved.md").read_text()
    assert draft.source == "template"
    assert draft.narrative == {}


def test_an_open_incident_reads_so_far_and_shows_open_phases_as_not_yet(engine: Engine) -> None:
    with Session(engine) as session:
        story = write_fraud_incident(session, until=at(3, 10))
        draft = template_summary(session, story.id, CATALOG, prom=ScriptedProm(), now=at(3, 10))
    assert draft.markdown == (GOLDEN / "fraud-scorer-so-far.md").read_text()


def test_the_same_facts_give_the_same_text(engine: Engine) -> None:
    with Session(engine) as session:
        story = write_fraud_incident(session)
        first = template_summary(session, story.id, CATALOG, prom=ScriptedProm(), now=at(4, 0))
        again = template_summary(session, story.id, CATALOG, prom=ScriptedProm(), now=at(5, 0))
    assert first == again  # resolved: "now" changes nothing


def test_prometheus_down_says_the_volume_could_not_be_read(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        draft = template_summary(session, story.id, CATALOG, prom=prom_down(), now=at(4, 0))
    impact = section(draft.markdown, "Impact")
    assert impact[-1] == (
        "- **Prediction volume:** could not be read from signal `predictions_per_s` "
        "(cannot connect to prom:9090)"
    )


def test_without_a_prometheus_client_or_a_volume_signal_there_is_no_volume_line(
    sqlite_engine: Engine,
) -> None:
    no_volume = Catalog.model_validate(CATALOG.model_dump())
    for signal in no_volume.services["fraud-scorer"].signals:
        signal.volume = False
    prom = ScriptedProm()
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session)
        for catalog, client in ((CATALOG, None), (no_volume, prom)):
            draft = template_summary(session, story.id, catalog, prom=client, now=at(4, 0))
            assert "Prediction volume" not in draft.markdown
    assert prom.calls == []


def test_an_incident_opened_from_pagerduty_alone_says_what_is_not_known(
    sqlite_engine: Engine,
) -> None:
    opened = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    with Session(sqlite_engine) as session:
        incident = Incident(
            group_key="pd:P123",
            source="pagerduty",
            status=IncidentStatus.RESOLVED,
            title="Checkout latency",
            opened_at=opened,
            resolved_at=opened + timedelta(hours=3, minutes=2),
            updated_at=opened,
        )
        session.add(incident)
        session.flush()
        assert incident.id is not None
        for when, kind, text, actor in (
            (opened, "incident_opened", "Incident opened from PagerDuty: Checkout latency", None),
            (opened + timedelta(minutes=90), "triage", "A triage note", None),
            (
                opened + timedelta(hours=3, minutes=2),
                "pagerduty_resolved",
                "PagerDuty: resolved by Jane Doe",
                "Jane Doe",
            ),
        ):
            session.add(
                TimelineEvent(incident_id=incident.id, at=when, kind=kind, text=text, actor=actor)
            )
        session.commit()
        draft = template_summary(session, incident.id, CATALOG, now=opened + timedelta(days=1))
    md = draft.markdown
    assert section(md, "What happened") == [
        "The incident was opened from pagerduty at 22:00:00 UTC [#1]. Resolved at "
        "2026-11-28 01:02:00 UTC, 3h 02m after the alert [#3]."
    ]
    assert section(md, "Phases")[1:] == [
        "- **Time to detect:** not known (no metric deviation found)",
        "- **Time to acknowledge:** not known",
        "- **Time to mitigate:** not known (no remediating action succeeded)",
        "- **Time to resolve:** 3h 02m (at 2026-11-28 01:02:00 UTC) [#3]",
    ]
    assert section(md, "Cause") == [
        "- **Suspect:** not known: enrichment did not run",
        "- **Confirmed:** not confirmed",
    ]
    assert section(md, "Actions taken") == ["- No actions were run through opsbot."]
    assert section(md, "Follow-ups") == [
        "- No remediation recorded: the incident resolved without a successful remediating "
        "action in opsbot; record what fixed it. [#3]",
        '- Confirm the cause: add a note starting with "cause:" (it is not confirmed).',
    ]
    # An event of a kind the summary does not know is listed like any other; a day change
    # shows the date; an actor already named in the text is not repeated.
    assert section(md, "Timeline") == [
        "- [#1] 22:00:00 UTC — Incident opened from PagerDuty: Checkout latency",
        "- [#2] 23:30:00 UTC — A triage note",
        "- [#3] 2026-11-28 01:02:00 UTC — PagerDuty: resolved by Jane Doe",
    ]


def test_outside_text_cannot_break_the_document_and_long_text_is_capped(
    sqlite_engine: Engine,
) -> None:
    nasty = "# Heading?\n\n> quote\n<details><summary>x</summary>\n```\ncode\n" + "y" * 1000
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session, until=START)
        story.event(at(3, 5), "note", nasty, "U0ALICE")
        story.event(at(3, 6), "note", f"todo: {nasty}", "U0ALICE")
        session.commit()
        md = template_summary(session, story.id, CATALOG, now=at(3, 7)).markdown
    # The whole document is still its own headings, lists and paragraphs.
    assert [x for x in md.splitlines() if x.startswith("#")] == [
        "# Incident #1: Fraud scorer error ratio above 5%",
        "## What happened",
        "## Impact",
        "## Phases",
        "## Cause",
        "## Actions taken",
        "## Follow-ups",
        "## Timeline",
    ]
    assert "<details>" not in md
    assert "```" not in md
    timeline = section(md, "Timeline")
    assert timeline[2].startswith(
        "- [#3] 03:05:00 UTC — # Heading? > quote &lt;details>&lt;summary>x&lt;/summary> "
        "\\`\\`\\` code yyy"
    )
    assert timeline[2].endswith("y… (by @U0ALICE)")
    follow_up = section(md, "Follow-ups")[0]
    assert follow_up.startswith("- \\# Heading? > quote")
    assert follow_up.endswith("y… (by @U0ALICE) [#4]")
    assert len(follow_up) < 600


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("# title", "\\# title"),
        ("> quote", "\\> quote"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("1. item", "1\\. item"),
        ("12) item", "12\\) item"),
        ("=====", "\\====="),
        ("| a | b |", "\\| a | b |"),
        ("plain # text", "plain # text"),
    ],
)
def test_a_block_marker_at_the_start_of_a_line_is_escaped(text: str, safe: str) -> None:
    assert md_block_safe(text) == safe


def test_inline_markdown_keeps_outside_text_on_its_line() -> None:
    assert md_inline("a\nb\r\nc\x00") == "a b c"
    assert md_inline("<b>x</b> `code` back\\slash") == "&lt;b>x&lt;/b> \\`code\\` back\\\\slash"
    assert md_inline("by <@U0ALICE> and <@U0BOB|bob>") == "by @U0ALICE and @U0BOB"
    assert md_inline("[docs](http://e.example) ![x](http://e.example/p.png)") == (
        "[docs]\\(http://e.example) ![x]\\(http://e.example/p.png)"
    )


def test_the_title_stays_one_heading(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session:
        story = write_fraud_incident(session, until=START)
        story.incident.title = "Queue depth on shard #\n## 7 #"
        session.add(story.incident)
        session.commit()
        md = template_summary(session, story.id, CATALOG, now=at(3, 7)).markdown
    assert md.splitlines()[0] == "# Incident #1: Queue depth on shard # ## 7 \\#"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0s"),
        (42, "42s"),
        (250, "4m 10s"),
        (305, "5m 05s"),
        (1270, "21m 10s"),
        (3720, "1h 02m"),
        (86400 * 2 + 3 * 3600 + 59, "2d 03h"),
    ],
)
def test_durations_read_like_people_write_them(seconds: int, words: str) -> None:
    assert human(timedelta(seconds=seconds)) == words


def test_the_incident_lead_is_named_in_the_summary(engine: Engine) -> None:
    with Session(engine) as session:
        story = write_fraud_incident(session)
        incident = session.get(Incident, story.id)
        assert incident is not None
        incident.lead = "U0LEADER"
        session.add(incident)
        session.commit()
        draft = template_summary(session, story.id, CATALOG, prom=ScriptedProm(), now=at(4, 0))
    golden = (GOLDEN / "fraud-scorer-resolved.md").read_text()
    assert "U0LEADER" not in golden
    header = draft.markdown.split("\n## ", 1)[0]
    assert "Lead" in header
    assert "U0LEADER" in header
    # Only that line is added.
    assert [line for line in draft.markdown.splitlines() if line not in golden.splitlines()] == [
        line for line in header.splitlines() if "U0LEADER" in line
    ]
    assert "U0LEADER" in str(draft.slack_blocks)
