"""Hypothesis strategies for hostile content: payloads that are shaped right but carry the values
that break storage, rendering or exports (the corpus in tests/web/test_content_corpus.py).

Values: arbitrary Unicode (NUL, lone surrogates, right-to-left marks, Slack markup), huge and
tiny numbers, times at both ends of the calendar and with odd offsets, wrong types. Bodies:
JSON in UTF-8 (with or without escapes and BOM), UTF-16/32, raw surrogates, deep nesting.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

NOW = datetime.now(UTC)

# Hypothesis favours the ends of a list: the ones that make a field invalid are in the middle.
TRICKY_TEXT = [
    "a\x00b",
    "x\udfffy",
    "\ud83d\ude00",  # a valid pair: one emoji
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "",
    " ",
    "<!channel> <@U123> <https://evil.example|docs>",
    "*bold* _it_ `code` ```block``` ~s~ &amp; &lt;",
    "\x00",
    "\ud800",
    "\n" * 50,
    "x" * 5000,
    "é" * 3000,
    "\ufeff",
    "\x7f\x1b[31m",
]

text = st.one_of(
    st.sampled_from(TRICKY_TEXT),
    st.text(st.characters(exclude_categories=[]), max_size=60),  # surrogates included
)
name = st.one_of(st.sampled_from(TRICKY_TEXT[:10]), st.text(min_size=1, max_size=20))

numbers: st.SearchStrategy[Any] = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 2),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**53 + 1]),
)
wrong_type: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), numbers, st.lists(st.integers(), max_size=3), st.just({"a": 1})
)


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


@st.composite
def _time_with_offset(draw: st.DrawFn) -> str:
    at = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    minutes = draw(st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59))
    return at.isoformat() + draw(st.sampled_from(["Z", _offset(minutes)]))


recent_time = st.integers(min_value=-30 * 24 * 60, max_value=0).map(
    lambda m: (NOW + timedelta(minutes=m)).isoformat().replace("+00:00", "Z")
)
hostile_time: st.SearchStrategy[Any] = st.one_of(
    _time_with_offset(),
    st.sampled_from(
        [
            "9999-12-31T23:00:00-14:00",
            "9999-12-31T23:59:59.999999Z",
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2026-11-27T05:00:00",  # no timezone
            "2026-11-27T05:00:00+24:00",
            "2026-02-30T00:00:00Z",
            "yesterday",
            "",
        ]
    ),
    wrong_type,
)
# Mostly a time that works, so that most bodies get as far as the database.
times = st.integers(0, 9).flatmap(lambda i: recent_time if i < 7 else hostile_time)


@st.composite
def encoded(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """``body`` as bytes in one of the ways a sender might write it, sometimes with one more
    field nested deep."""
    ways = ["ascii"] * 3 + ["utf-8", "utf-16", "utf-8-sig", "utf-32"] + ["ascii"] * 3
    how = draw(st.sampled_from(ways))
    # Hypothesis favours the ends of a range: the middle is the rare case.
    if draw(st.integers(0, 9)) == 4:  # json.dumps itself stops at about 1,000 levels
        n = draw(st.sampled_from([10, 401, 30_000]))
        return json.dumps(body).encode()[:-1] + b', "deep": ' + b"[" * n + b"]" * n + b"}"
    if how == "ascii":
        return json.dumps(body).encode()
    # A lone surrogate written raw ("surrogatepass") is invalid UTF-8: a sender's bug to refuse.
    return json.dumps(body, ensure_ascii=False).encode(how, errors="surrogatepass")
