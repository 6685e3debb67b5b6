"""The storm message's Block Kit: valid as Slack checks it, alert text kept inert, within
Slack's limits however large the storm, and each thread linked as Slack links messages."""

from __future__ import annotations

from bot.render.storm import STORM_BLOCK, StormLine, storm_line, storm_message, thread_url
from tests.fakes.slack.api import MAX_BLOCKS, validate_blocks


def line(n: int, **kw: object) -> StormLine:
    values: dict[str, object] = {
        "number": n,
        "title": f"ModelLatencyHigh on svc-{n}",
        "service": f"svc-{n}",
        "severity": "critical",
    }
    values.update(kw)
    return StormLine(**values)  # type: ignore[arg-type]


def test_names_every_incident_with_its_service_and_severity_and_what_is_open() -> None:
    url = thread_url("https://team.slack.com/", "C0INCIDENT", "1700000000.123456")
    text, blocks = storm_message(
        [line(1, thread_url=url, open=True), line(2, open=True), line(3), line(4, failed=True)],
        done=False,
    )
    assert validate_blocks(blocks) == []
    assert blocks[0]["block_id"] == STORM_BLOCK
    assert blocks[0]["text"]["text"] == ":rotating_light: Alert storm: 4 new incidents"
    assert blocks[1]["text"]["text"].splitlines() == [
        "• <https://team.slack.com/archives/C0INCIDENT/p1700000000123456|#1> "
        "*ModelLatencyHigh on svc-1* — svc-1 · critical",
        "• #2 *ModelLatencyHigh on svc-2* — svc-2 · critical · thread open",
        "• #3 *ModelLatencyHigh on svc-3* — svc-3 · critical · _thread opening…_",
        "• #4 *ModelLatencyHigh on svc-4* — svc-4 · critical · _could not be posted_",
    ]
    assert blocks[-1]["elements"][0]["text"].startswith("2 of 4 threads open")
    assert text.startswith("Alert storm: 4 new incidents (#1, #2, #3, #4).")


def test_the_last_edit_says_every_thread_is_open() -> None:
    _, blocks = storm_message([line(1, open=True), line(2, open=True)], done=True)
    assert blocks[-1]["elements"][0]["text"] == "All 2 threads are open."


def test_alert_text_is_data_not_markup_or_a_mention() -> None:
    hostile = line(1, title="<!here> *pwned* <https://evil.example|click>\nsecond line")
    assert storm_line(hostile) == (
        "• #1 *&lt;!here&gt; *pwned* &lt;https://evil.example|click&gt; second line* "
        "— svc-1 · critical · _thread opening…_"
    )


def test_a_huge_storm_stays_within_slacks_limits_and_counts_the_rest() -> None:
    lines = [line(n, title="t" * 140, service="s" * 100) for n in range(1, 2001)]
    text, blocks = storm_message(lines, done=False)
    assert validate_blocks(blocks) == []
    assert len(blocks) <= MAX_BLOCKS
    shown = sum(b["text"]["text"].count("• #") for b in blocks if b["type"] == "section")
    more = blocks[-2]["text"]["text"]
    assert more == f"…and {2000 - shown} more"
    assert len(text) < 1000  # the notification names the first ones only
