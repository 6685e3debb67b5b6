"""The outbox against the Slack emulator, through the real slack_sdk client."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlmodel import Session

from bot.store.models import OutboxStatus
from tests.fakes.slack.api import SlackEmulator
from tests.outbox.conftest import CHANNEL, Outbox
from tests.support.payloads import am_alert, am_payload
from tests.support.store import incidents, ingest, outbox


def firing(n: int = 1, service: str = "fraud-scorer") -> dict:  # type: ignore[type-arg]
    return am_payload(service, [am_alert(service, n)])


def resolved(n: int = 1, service: str = "fraud-scorer") -> dict:  # type: ignore[type-arg]
    return am_payload(service, [am_alert(service, n, status="resolved")])


async def test_root_then_reply_in_its_thread_then_root_edited_on_resolve(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, firing())
    await outbox.sender.drain()
    [root] = slack.roots(CHANNEL)
    assert root["text"].startswith("FIRING: #1 ModelLatencyHigh on fraud-scorer")
    assert root["blocks"][0]["type"] == "header"
    [reply] = slack.replies(CHANNEL, root["ts"])
    assert "ModelLatencyHigh" in reply["blocks"][0]["text"]["text"]
    assert incidents(outbox.engine)[0].slack_ts == root["ts"]

    ingest(outbox.engine, resolved())
    await outbox.sender.drain()
    [root_after] = slack.roots(CHANNEL)
    assert root_after["ts"] == root["ts"]
    assert root_after["edits"] == 1
    assert root_after["text"].startswith("RESOLVED: #1")
    assert len(slack.replies(CHANNEL, root["ts"])) == 2


async def test_new_alert_joining_edits_the_root_counts(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, firing(1))
    await outbox.sender.drain()
    ingest(outbox.engine, firing(2))
    await outbox.sender.drain()
    [root] = slack.roots(CHANNEL)
    assert root["edits"] == 1
    fields = " ".join(f["text"] for f in root["blocks"][1]["fields"])
    assert "2 firing / 2 total" in fields


async def test_429_is_honoured_with_retry_after_and_nothing_is_lost(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    slack.rate_limit_next("chat.postMessage", 1, retry_after=1)
    ingest(outbox.engine, firing())
    await outbox.sender.drain_once()
    assert slack.roots(CHANNEL) == []
    [row, _reply] = outbox_rows(outbox)
    assert row.status == OutboxStatus.PENDING
    assert "ratelimited" in (row.last_error or "")
    assert (row.next_attempt_at - datetime.now(UTC)).total_seconds() > 0.5
    await outbox.sender.drain(deadline_s=10)
    assert len(slack.roots(CHANNEL)) == 1
    posts = slack.calls("chat.postMessage")
    assert posts[0]["status"] == 429
    assert posts[1]["at"] - posts[0]["at"] >= 0.95  # waited for Retry-After


def outbox_rows(ob: Outbox) -> list:  # type: ignore[type-arg]
    return outbox(ob.engine)


async def test_5xx_is_retried_with_backoff_until_sent_once(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    slack.fail_next("chat.postMessage", 2, status=503, error="service_unavailable")
    ingest(outbox.engine, firing())
    await outbox.sender.drain(deadline_s=15)
    assert len(slack.roots(CHANNEL)) == 1
    root_row = outbox_rows(outbox)[0]
    assert (root_row.status, root_row.attempts) == (OutboxStatus.SENT, 3)


async def test_timeout_is_checked_against_the_channel_before_resending(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    # The emulator answers after the client gave up (2 s): the post landed, the bot never heard.
    slack.delay_next("chat.postMessage", 3.0)
    ingest(outbox.engine, firing())
    await outbox.sender.drain_once()
    await slack.await_for(lambda: len(slack.roots(CHANNEL)) == 1, timeout=5)
    await outbox.sender.drain(deadline_s=15)
    assert len(slack.roots(CHANNEL)) == 1  # found by its metadata, not posted twice
    assert len(slack.replies(CHANNEL, slack.roots(CHANNEL)[0]["ts"])) == 1


async def test_replies_waiting_for_one_thread_are_merged(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    for n in range(1, 6):
        ingest(outbox.engine, firing(n))
    await outbox.sender.drain()
    [root] = slack.roots(CHANNEL)
    [merged] = slack.replies(CHANNEL, root["ts"])
    text = " ".join(b["text"]["text"] for b in merged["blocks"])
    assert text.count("*ModelLatencyHigh* firing") == 5
    statuses = sorted(r.status for r in outbox_rows(outbox) if r.kind == "reply")
    assert statuses == ["merged"] * 4 + ["sent"]


async def test_permanent_error_fails_the_row_and_its_thread_visibly(
    outbox: Outbox, slack: SlackEmulator, sqlite_url: str
) -> None:
    import json

    from bot.incidents import alertmanager_flow
    from bot.intake.alertmanager_schema import AMPayload
    from bot.store.tx import run_tx

    payload = firing()
    run_tx(
        outbox.engine,
        lambda s: alertmanager_flow.ingest(
            s, AMPayload.model_validate(payload), json.dumps(payload).encode(), "C0UNKNOWN"
        ),
    )
    await outbox.sender.drain()
    rows = outbox_rows(outbox)
    assert [r.status for r in rows] == ["failed", "failed"]
    assert "channel_not_found" in (rows[0].last_error or "")
    assert "root message failed" in (rows[1].last_error or "")


async def test_message_that_landed_before_a_crash_is_not_sent_again(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, firing())
    # What a crash between "sent to Slack" and "marked sent" leaves behind:
    prepared = outbox.sender._prepare(outbox_rows(outbox)[0].id)
    assert prepared is not None
    ts = await outbox.transport.post(
        prepared.channel, prepared.text, prepared.blocks, outbox_ids=prepared.row_ids
    )
    assert outbox_rows(outbox)[0].status == OutboxStatus.SENDING

    restarted = outbox.new_sender(channel_rate=50, channel_burst=50)
    assert await restarted.reconcile_in_flight() == 1
    await restarted.drain()
    [root] = slack.roots(CHANNEL)
    assert root["ts"] == ts
    assert incidents(outbox.engine)[0].slack_ts == ts
    assert len(slack.replies(CHANNEL, ts)) == 1


async def test_message_that_never_landed_before_a_crash_is_sent_once(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    ingest(outbox.engine, firing())
    assert outbox.sender._prepare(outbox_rows(outbox)[0].id) is not None  # crash before the call
    restarted = outbox.new_sender(channel_rate=50, channel_burst=50)
    await restarted.drain()
    assert len(slack.roots(CHANNEL)) == 1


async def test_posts_are_paced_per_channel(outbox: Outbox, slack: SlackEmulator) -> None:
    sender = outbox.new_sender(channel_rate=2.0, channel_burst=2)
    for n in range(6):
        ingest(outbox.engine, firing(service=f"svc-{n}"))
    started = time.monotonic()
    await sender.drain(deadline_s=30)
    posts = [c for c in slack.calls("chat.postMessage") if c["ok"]]
    assert len(posts) == 12  # 6 roots, 6 replies
    # 2 at once, then 2/s: the last of 12 cannot go before (12 - 2) / 2 = 5 s.
    assert time.monotonic() - started >= 4.5
    assert slack.rate_violations() == []
    assert all(c["status"] != 429 for c in slack.calls("chat.postMessage"))


async def test_storm_reply_stays_within_block_kit_limits(
    outbox: Outbox, slack: SlackEmulator
) -> None:
    alerts = [am_alert("svc", n) for n in range(120)]
    for a in alerts:
        a["annotations"]["summary"] = "s" * 2900
        a["labels"]["pod"] = "p" * 1000
    ingest(outbox.engine, am_payload("svc", alerts))
    await outbox.sender.drain()
    [root] = slack.roots(CHANNEL)
    [reply] = slack.replies(CHANNEL, root["ts"])
    assert len(reply["blocks"]) <= 50
    assert "and 100 more" in reply["blocks"][-1]["text"]["text"]


async def test_outbox_rows_survive_in_the_database_until_sent(outbox: Outbox) -> None:
    ingest(outbox.engine, firing())
    with Session(outbox.engine) as s:
        from bot.outbox.queue import outbox_depth

        assert outbox_depth(s) == 2
