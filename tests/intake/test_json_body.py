"""bot/intake/json_body.py: the shortcut that skips walking a body changes no result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import IntakeError
from bot.intake.json_body import MAX_DEPTH, TOO_DEEP, load_json

DATA = Path(__file__).resolve().parents[1] / "data"  # real payloads (tests/conftest.py)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": "x\\u0000y"}', {"a": "x\ufffdy"}),
        (b'{"k\\u0000": ["\\ud800"]}', {"k\ufffd": ["\ufffd"]}),
        (b'{"pair": "\\ud83d\\ude00", "amp": "\\u0026"}', {"pair": "\U0001f600", "amp": "&"}),
        (
            b'{"plain": "text", "n": [1, 2.5, null, true]}',
            {"plain": "text", "n": [1, 2.5, None, True]},
        ),
    ],
)
def test_text_is_storable_with_or_without_escapes(raw: bytes, expected: object) -> None:
    assert load_json(raw) == expected


def test_nesting_past_the_limit_that_json_itself_accepts_is_still_refused() -> None:
    raw = b"[" * (MAX_DEPTH + 50) + b"]" * (MAX_DEPTH + 50)
    json.loads(raw)  # Python's parser takes it; the limit is ours
    with pytest.raises(IntakeError) as caught:
        load_json(raw)
    assert caught.value.reason == TOO_DEEP


def test_real_payloads_parse_as_json_does() -> None:
    paths = sorted(DATA.rglob("*.json"))
    assert paths
    for path in paths:
        raw = path.read_bytes()
        if b"\\u" not in raw:
            assert load_json(raw) == json.loads(raw), path.name
