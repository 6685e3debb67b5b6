"""The silence's Block Kit: the root's select, the root's line while a silence is active, and the
thread's replies; mentions only for Slack users, label text escaped."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.render.blocks import root_message
from bot.render.silences import (
    SILENCE_ACTION,
    expired_reply,
    silence_control,
    silence_element,
    silence_line,
    silence_select,
    silenced_reply,
)
from bot.store.oncall_models import Silence
from tests.render.messages import T0, incident


def made(**fields: object) -> Silence:
    values: dict[str, object] = {
        "id": 3,
        "incident_id": 42,
        "silence_id": "5f4b6fc8-f4dc-4850-be49-9ce27aaaabac",
        "matchers": [
            {"name": "alertname", "value": "FraudScorerDown", "isRegex": False, "isEqual": True},
            {"name": "service", "value": "<fraud&scorer>", "isRegex": False, "isEqual": True},
        ],
        "starts_at": T0,
        "ends_at": T0 + timedelta(hours=2),
        "created_by": "U0ALICE",
        "comment": "c",
    }
    values.update(fields)
    return Silence(**values)


def test_the_select_offers_the_four_choices_for_its_incident() -> None:
    select = silence_select(incident())
    assert select == silence_element(incident()).to_dict()
    assert (select["type"], select["action_id"]) == ("static_select", SILENCE_ACTION)
    assert [(o["text"]["text"], o["value"]) for o in select["options"]] == [
        ("1 h", "42:1h"),
        ("4 h", "42:4h"),
        ("until Monday 09:00 UTC", "42:monday"),
        ("Custom…", "42:custom"),
    ]


def test_the_select_is_offered_only_where_a_silence_can_be_made() -> None:
    assert silence_control(incident()) is not None
    assert silence_control(incident(source="pagerduty")) is None
    assert silence_control(incident(source="declared")) is None
    assert silence_control(incident(status="resolved")) is None


def test_the_roots_line_says_until_when_by_whom_and_how_to_expire_it() -> None:
    assert silence_line(made(), T0) == (
        ":no_bell: *Silenced* until 14:00 UTC by <@U0ALICE> (expire: `/ops unsilence 3`)"
    )
    assert "by console " in silence_line(made(created_by="console"), T0)
    _, blocks = root_message(incident(), 1, 1, silence=silence_line(made(), T0))
    assert ":no_bell: *Silenced* until 14:00 UTC by <@U0ALICE>" in json.dumps(blocks)
    _, without = root_message(incident(), 1, 1)
    assert "Silenced" not in json.dumps(without)


def test_the_thread_hears_of_the_silence_and_its_expiry_with_labels_escaped() -> None:
    text, blocks = silenced_reply(made(), T0)
    assert text.startswith(
        ":no_bell: <@U0ALICE> silenced alerts matching "
        "`alertname=FraudScorerDown, service=&lt;fraud&amp;scorer&gt;` until 14:00 UTC"
    )
    assert "(silence 3, Alertmanager 5f4b6fc8)" in text
    assert blocks[0]["text"]["text"] == text
    ended, _ = expired_reply(made(expired_by="U0BOB"), T0)
    assert ended.startswith(":bell: <@U0BOB> expired silence 3 (")


def test_a_reply_with_long_label_values_stays_within_slacks_limit() -> None:
    long = [{"name": f"l{i}", "value": "v" * 1024} for i in range(20)]
    text, blocks = silenced_reply(made(matchers=long), T0)
    assert len(text) > 3000
    assert len(blocks[0]["text"]["text"]) == 3000
    assert blocks[0]["text"]["text"].endswith("…")
