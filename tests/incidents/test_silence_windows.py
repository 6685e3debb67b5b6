"""How long a silence lasts, in the one grammar the command and the Slack select share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.incidents.silence_windows import (
    CHOICES,
    WindowError,
    custom_hint,
    next_monday,
    parse_window,
    until_text,
)

SUNDAY = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("words", "ends"),
    [
        (["1h"], SUNDAY + timedelta(hours=1)),
        (["4h"], SUNDAY + timedelta(hours=4)),
        (["90m"], SUNDAY + timedelta(minutes=90)),
        (["2d"], SUNDAY + timedelta(days=2)),
        (["7d"], SUNDAY + timedelta(days=7)),
        (["monday"], datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        (["Monday"], datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        (["until", "2026-12-08T14:00Z"], datetime(2026, 12, 8, 14, 0, tzinfo=UTC)),
        (["until", "2026-12-08T15:00+01:00"], datetime(2026, 12, 8, 14, 0, tzinfo=UTC)),
        (["2026-12-08T14:00"], datetime(2026, 12, 8, 14, 0, tzinfo=UTC)),  # UTC unless said
    ],
)
def test_a_window_ends_when_it_says(words: list[str], ends: datetime) -> None:
    assert parse_window(words, SUNDAY) == ends


def test_every_choice_of_the_select_is_in_the_grammar() -> None:
    for choice in CHOICES:
        assert parse_window([choice], SUNDAY) > SUNDAY


@pytest.mark.parametrize(
    ("now", "monday"),
    [
        (SUNDAY, datetime(2026, 12, 7, 9, tzinfo=UTC)),
        (datetime(2026, 12, 7, 8, 59, tzinfo=UTC), datetime(2026, 12, 7, 9, tzinfo=UTC)),
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), datetime(2026, 12, 14, 9, tzinfo=UTC)),
        (datetime(2026, 12, 11, 17, 30, tzinfo=UTC), datetime(2026, 12, 14, 9, tzinfo=UTC)),
    ],
)
def test_monday_is_the_next_monday_nine_utc_after_now(now: datetime, monday: datetime) -> None:
    assert next_monday(now) == monday


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ([], "Say how long"),
        (["1h", "2h"], "Say how long"),
        (["until"], "until needs one time"),
        (["soon"], "`soon` is not a length or a time"),
        (["8d"], "`8d` is out of range: from 5m to 7d"),
        (["1m"], "`1m` is out of range"),
        (["until", "2026-12-01T00:00Z"], "Tue 1 Dec 00:00 UTC is not in the future"),
        (["2027-01-01T00:00Z"], "more than 7 days away"),
    ],
)
def test_a_window_outside_the_grammar_says_what_is_accepted(words: list[str], error: str) -> None:
    with pytest.raises(WindowError, match=error):
        parse_window(words, SUNDAY)


def test_the_end_is_said_briefly_today_and_with_its_day_otherwise() -> None:
    assert until_text(SUNDAY + timedelta(hours=6), SUNDAY) == "14:00 UTC"
    assert until_text(datetime(2026, 12, 7, 9, tzinfo=UTC), SUNDAY) == "Mon 7 Dec 09:00 UTC"
    assert until_text(datetime(2027, 1, 2, 9, tzinfo=UTC), SUNDAY) == "Sat 2 Jan 2027 09:00 UTC"


def test_the_custom_choice_answers_with_a_command_that_parses() -> None:
    hint = custom_hint(12, SUNDAY)
    assert "`/ops silence until 2026-12-07T08:00Z #12`" in hint
    assert parse_window(["until", "2026-12-07T08:00Z"], SUNDAY) == SUNDAY + timedelta(days=1)
