"""``upload_file`` on both transports: Slack's files_upload_v2 flow against the emulator, and the
console's files directory."""

from __future__ import annotations

import inspect
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clients.slack_web import SlackWebTransport, make_web_client
from bot.enrich.chart import render_chart
from bot.enrich.types import ChangeEvent, SignalSeries
from bot.errors import TransportError
from bot.metrics import Metrics
from bot.outbox.console_transport import ConsoleTransport
from bot.outbox.transport import ChatTransport
from tests.fakes.slack.api import UPLOAD, SlackEmulator
from tests.outbox.conftest import CHANNEL

START = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def chart_png() -> bytes:
    points = [(START.timestamp() + 60 * i, float(i % 7)) for i in range(-60, 60)]
    series = [SignalSeries(name="error_rate", query="q", points=points, unit="%")]
    change = ChangeEvent(
        kind="model",
        ref="fraud-scorer 1.4.2",
        service="fraud-scorer",
        at=START - timedelta(minutes=6),
        source="deploy_event",
        summary="model fraud-scorer 1.4.2 deployed",
    )
    return render_chart(series, [change], START, title="fraud-scorer: error rate")


def transport(slack: SlackEmulator, timeout_s: float = 2) -> tuple[SlackWebTransport, Metrics]:
    metrics = Metrics()
    client = make_web_client(slack.bot_token, slack.api_url, timeout_s)
    return SlackWebTransport(client, metrics), metrics


def calls(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "opsbot_slack_calls_total", {"method": "files.upload_v2", "outcome": outcome}
    )
    return value or 0.0


async def thread_root(t: SlackWebTransport) -> str:
    return await t.post(CHANNEL, "incident", [])


def test_both_transports_have_the_protocols_upload_file() -> None:
    wanted = inspect.signature(ChatTransport.upload_file)
    for cls in (SlackWebTransport, ConsoleTransport):
        assert inspect.signature(cls.upload_file) == wanted, cls.__name__
        assert inspect.iscoroutinefunction(cls.upload_file)


# -- Slack --------------------------------------------------------------------------------------


async def test_chart_arrives_intact_in_the_thread_and_its_file_id_is_returned(
    slack: SlackEmulator,
) -> None:
    t, metrics = transport(slack)
    root = await thread_root(t)
    png = chart_png()
    file_id = await t.upload_file(
        CHANNEL,
        root,
        "incident-7-chart.png",
        png,
        title="fraud-scorer around the alert",
        alt_text="error_rate rose after fraud-scorer 1.4.2",
    )
    (stored,) = slack.files()
    assert stored["id"] == file_id
    assert stored["content"] == png
    assert (stored["channel"], stored["thread_ts"], stored["mimetype"]) == (
        CHANNEL,
        root,
        "image/png",
    )
    assert stored["title"] == "fraud-scorer around the alert"
    assert stored["alt_text"] == "error_rate rose after fraud-scorer 1.4.2"
    assert [m["files"] for m in slack.replies(CHANNEL, root)] == [[file_id]]
    assert calls(metrics, "ok") == 1


async def test_rate_limited_completion_is_retryable_after_retry_after(
    slack: SlackEmulator,
) -> None:
    t, metrics = transport(slack)
    root = await thread_root(t)
    slack.rate_limit_next("files.completeUploadExternal", retry_after=7)
    with pytest.raises(TransportError) as exc:
        await t.upload_file(CHANNEL, root, "c.png", chart_png(), title="t", alt_text="a")
    err = exc.value
    assert (err.status, err.retryable, err.retry_after, err.ambiguous) == (429, True, 7.0, False)
    assert err.operation == "files.upload_v2"
    assert "files.completeUploadExternal" in err.detail
    assert calls(metrics, "ratelimited") == 1
    assert slack.files() == []

    file_id = await t.upload_file(CHANNEL, root, "c.png", b"\x89PNG-ish", title="t", alt_text="a")
    assert [f["id"] for f in slack.files()] == [file_id]  # a retry starts over and lands once


async def test_a_permanent_slack_error_is_not_retryable(slack: SlackEmulator) -> None:
    t, metrics = transport(slack)
    with pytest.raises(TransportError) as exc:
        await t.upload_file("C0NOPE", "1.000001", "c.png", b"png", title="t", alt_text="a")
    err = exc.value
    assert (err.status, err.retryable, err.ambiguous) == (200, False, False)
    assert err.detail == "channel_not_found (in files.completeUploadExternal)"
    assert calls(metrics, "error") == 1


async def test_a_failed_byte_upload_is_retryable(slack: SlackEmulator) -> None:
    t, metrics = transport(slack)
    root = await thread_root(t)
    slack.fail_next(UPLOAD, status=503, error="service_unavailable")
    with pytest.raises(TransportError) as exc:
        await t.upload_file(CHANNEL, root, "c.png", b"png", title="t", alt_text="a")
    err = exc.value
    assert (err.status, err.retryable, err.ambiguous) == (503, True, False)
    assert calls(metrics, "error") == 1
    assert slack.calls("files.completeUploadExternal") == []


async def test_no_answer_to_the_completion_is_ambiguous(slack: SlackEmulator) -> None:
    """The completion took effect but its answer never came: the file may be in the thread."""
    t, _ = transport(slack, timeout_s=1)
    root = await thread_root(t)
    slack.delay_next("files.completeUploadExternal", 3.0)
    with pytest.raises(TransportError) as exc:
        await t.upload_file(CHANNEL, root, "c.png", b"png", title="t", alt_text="a")
    assert (exc.value.retryable, exc.value.ambiguous, exc.value.status) == (True, True, None)
    assert len(slack.files()) == 1  # it landed


# -- console ------------------------------------------------------------------------------------


async def test_console_writes_the_file_and_prints_where(tmp_path: Path) -> None:
    out = io.StringIO()
    files_dir = tmp_path / "charts"
    console = ConsoleTransport(out=out, files_dir=files_dir)
    assert not files_dir.exists()  # created on first use
    png = chart_png()
    file_id = await console.upload_file(
        CHANNEL, "1.000000", "incident-7-chart.png", png, title="Error rate", alt_text="a"
    )
    (written,) = files_dir.iterdir()
    assert written.read_bytes() == png
    assert written.suffix == ".png"
    assert file_id in written.name
    assert out.getvalue() == (
        f"[{CHANNEL}] ↳ 1.000000 | 📎 Error rate → {written} ({len(png)} bytes)\n"
    )

    again = await console.upload_file(
        CHANNEL, "1.000000", "incident-7-chart.png", b"second", title="Again", alt_text="a"
    )
    assert again != file_id
    assert written.read_bytes() == png  # never overwritten
    assert len(list(files_dir.iterdir())) == 2


async def test_console_keeps_files_in_opsbot_files_and_names_them_safely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    console = ConsoleTransport(out=io.StringIO())
    await console.upload_file(CHANNEL, "1.0", "../../etc/passwd", b"x", title="t", alt_text="a")
    (written,) = (tmp_path / "opsbot-files").iterdir()
    assert written.name.startswith("passwd-")
    assert written.read_bytes() == b"x"
