"""Two real replicas on one PostgreSQL take an alert storm at Slack's pace; the one sending to
Slack is killed with ``kill -9`` once the storm message is in the channel. The survivor edits
that same message (no second one) until it says every thread is open; each incident is listed
at most once (those whose threads opened before the storm began are not), and gets one root."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.render.storm import STORM_BLOCK
from tests.fakes.slack.api import SlackEmulator
from tests.support.fleet import CHANNEL, Replicas, deliver, fleet_env, storm, wait_for

GROUPS, MORE = 12, 4
LISTED = re.compile(r"^• (?:<[^|>]+\|)?#(\d+)[>\s]", re.MULTILINE)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator


def storm_messages(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [
        m
        for m in slack.roots(CHANNEL)
        if m["blocks"] and m["blocks"][0].get("block_id") == STORM_BLOCK
    ]


def listed(message: dict[str, Any]) -> list[int]:
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    return [int(n) for n in LISTED.findall("\n".join(sections))]


def over(slack: SlackEmulator) -> bool:
    """The storm message's last edit: every thread it lists is open."""
    found = storm_messages(slack)
    return bool(found) and str(found[-1]["blocks"][-1]["elements"][0]["text"]).startswith("All ")


def test_a_new_outbox_owner_edits_the_storm_message_the_dead_one_posted(
    postgres_url: str, slack: SlackEmulator, tmp_path: Path
) -> None:
    # Slack's own pace (2/s here, bursts of 3): twelve new incidents at once are a storm.
    env = fleet_env(
        postgres_url, slack, OPSBOT_SLACK_CHANNEL_RATE="2", OPSBOT_SLACK_CHANNEL_BURST="3"
    )
    replicas = Replicas(env, tmp_path)
    try:
        a, b = replicas.start(), replicas.start()
        owner = replicas.wait_leader("outbox")
        survivor = b if owner is a else a
        for payload in storm(GROUPS, 1, 1, prefix="first"):
            assert deliver(survivor.url, payload) == 200
        wait_for(lambda: bool(storm_messages(slack)), 15, "the storm message")
        [posted] = storm_messages(slack)

        owner.kill()
        for payload in storm(MORE, 1, 1, prefix="later"):
            assert deliver(survivor.url, payload) == 200
        wait_for(lambda: over(slack), 90, "the storm message's last edit", every=0.2)

        [message] = storm_messages(slack)
        assert message["ts"] == posted["ts"]  # edited by the new owner, never posted again
        roots = {
            int(m["text"].split("#")[1].split()[0]): m["ts"]
            for m in slack.roots(CHANNEL)
            if m["ts"] != message["ts"]
        }
        everyone = list(range(1, GROUPS + MORE + 1))
        assert sorted(roots) == everyone  # one root each
        assert len(slack.roots(CHANNEL)) == len(everyone) + 1
        names = listed(message)
        assert len(names) == len(set(names))  # each listed once
        # Those listed (all that waited when it was posted, and the later ones) got their
        # thread after it; the others had theirs before the storm began.
        assert names == sorted(n for n, ts in roots.items() if float(ts) > float(message["ts"]))
        assert {n + GROUPS for n in range(1, MORE + 1)} <= set(names)
        assert f"All {len(names)} threads are open." in str(message["blocks"][-1])
        assert slack.rate_violations() == []
    finally:
        replicas.stop_all()
