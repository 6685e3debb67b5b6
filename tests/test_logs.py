"""Logs: text for people, JSON lines (``OPSBOT_LOG_FORMAT=json``) with the ids of the work."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.logs import about, configure, set_replica
from tests.support.payloads import am_alert, am_payload
from tests.support.server import BotProcess, run_cli

log = logging.getLogger("opsbot.test")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """What opsbot's handler writes, with the root logger put back afterwards."""
    out = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield out
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    set_replica(None)


def lines(out: io.StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line]


def test_json_lines_carry_the_ids_of_the_work(stream: io.StringIO) -> None:
    configure("INFO", "json", stream)
    set_replica("pod-a:1:abc")
    with about(incident_id=42, delivery_id=7):
        log.info("posted the root of %s", "payments — ünïcode")
        log.info("explicit wins", extra={"incident_id": 43})
    log.info("outside")
    first, second, third = (json.loads(line) for line in lines(stream))
    assert first["message"] == "posted the root of payments — ünïcode"
    assert first["level"] == "INFO"
    assert first["logger"] == "opsbot.test"
    assert first["time"].endswith("+00:00")
    assert (first["incident_id"], first["delivery_id"], first["replica"]) == (42, 7, "pod-a:1:abc")
    assert second["incident_id"] == 43
    assert "incident_id" not in third
    assert "delivery_id" not in third


def test_json_exception_is_one_line_with_the_traceback(stream: io.StringIO) -> None:
    configure("INFO", "json", stream)
    try:
        raise RuntimeError("slack said no")
    except RuntimeError:
        log.exception("sending failed")
    [line] = lines(stream)
    record = json.loads(line)
    assert record["message"] == "sending failed"
    assert "RuntimeError: slack said no" in record["exc_info"]


def test_text_lines_end_with_the_ids(stream: io.StringIO) -> None:
    configure("WARNING", "text", stream)
    with about(incident_id=5, job_id=9):
        log.warning("no answer")
        log.info("below the level")
    [line] = lines(stream)
    assert line.endswith("WARNING opsbot.test: no answer [incident_id=5 job_id=9]")


def test_configure_twice_keeps_one_handler(stream: io.StringIO) -> None:
    configure("INFO", "text", stream)
    configure("INFO", "json", stream)
    log.info("once")
    assert len(lines(stream)) == 1
    json.loads(lines(stream)[0])


async def test_ids_follow_the_work_into_worker_threads(stream: io.StringIO) -> None:
    configure("INFO", "json", stream)
    with about(incident_id=11):
        await asyncio.to_thread(log.info, "in a thread")
    assert json.loads(lines(stream)[0])["incident_id"] == 11


def test_about_refuses_an_unknown_field() -> None:
    with pytest.raises(ValueError, match="incidnet_id"), about(incidnet_id=1):
        pass


def test_an_unknown_log_format_stops_the_cli_in_one_message(tmp_path: Path) -> None:
    result = run_cli(
        "db",
        "upgrade",
        env={
            "OPSBOT_LOG_FORMAT": "xml",
            "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'opsbot.db'}",
        },
        home=tmp_path,
    )
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert "OPSBOT_LOG_FORMAT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "opsbot.db").exists()  # nothing done


def test_serve_logs_json_with_the_delivery_and_incident_ids(tmp_path: Path) -> None:
    env = {
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'opsbot.db'}",
        "OPSBOT_LOG_FORMAT": "json",
        "OPSBOT_ALERTMANAGER_TOKEN": "t0ken",
        "HOME": str(tmp_path),
    }
    stderr = tmp_path / "stderr.log"
    with BotProcess(env, log_path=tmp_path / "stdout.log", stderr_path=stderr) as bot:
        payload = am_payload("payments", [am_alert("payments", 1)])
        answer = httpx.post(
            f"{bot.url}/webhooks/alertmanager",
            json=payload,
            headers={"Authorization": "Bearer t0ken"},
            timeout=10,
        ).json()
        [incident_id] = answer["incidents"]["opened"]
        bot.stop()
    # Every line on stderr is a JSON record; the console transport (Slack's stand-in) prints
    # the messages themselves on stdout.
    records = [json.loads(line) for line in stderr.read_text().splitlines()]
    assert "[console] new thread" in bot.logs()
    assert not any("color_message" in r for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
    [stored] = [r for r in records if r.get("delivery_id") == answer["delivery_id"]]
    assert stored["incident_id"] == incident_id
    assert stored["replica"]
