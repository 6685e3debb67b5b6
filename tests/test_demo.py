"""``opsbot demo``: the quick start, followed in order on one database, works every time."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import wait_for
from tests.support.server import ROOT, BotProcess, free_port, run_cli

TOKENS = {"OPSBOT_ALERTMANAGER_TOKEN": "dev-token", "OPSBOT_API_TOKEN": "dev-api"}


def opsbot(
    *args: str, env: dict[str, str], home: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, home=home, stdin=stdin)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[BotProcess, dict[str, str]]]:
    env = {
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'opsbot.db'}",
        "OPSBOT_SERVICES_FILE": str(ROOT / "examples" / "services.yaml"),
        **TOKENS,
    }
    with BotProcess({**env, "HOME": str(tmp_path)}, log_path=tmp_path / "serve.log") as bot:
        yield bot, env


def incident(bot: BotProcess, incident_id: int) -> dict[str, Any]:
    answer = httpx.get(
        f"{bot.url}/api/v1/incidents/{incident_id}",
        headers={"Authorization": "Bearer dev-api"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_the_quick_start_in_order_opens_explains_resolves_and_opens_again(
    served: tuple[BotProcess, dict[str, str]], tmp_path: Path
) -> None:
    bot, env = served
    first = opsbot("demo", "--url", bot.url, env=env, home=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "deploy event stored: model 1.4.2 on payments, 6 min before the alert" in first.stdout
    assert "incident #1 opened" in first.stdout

    # The deploy is the likely cause, and "what changed in the last day" lists it.
    wait_for(lambda: bool(incident(bot, 1)["likely_cause"]), 20, "the likely cause")
    cause = incident(bot, 1)["likely_cause"]
    assert "1.4.2" in cause
    changes = opsbot("console", env=env, home=tmp_path, stdin="changes payments 1d\n")
    assert changes.returncode == 0, changes.stderr
    assert "1.4.2" in changes.stdout

    # Again while #1 is open: an incident of its own (Alertmanager groups each run apart).
    again = opsbot("demo", "--url", bot.url, env=env, home=tmp_path)
    assert "incident #2 opened" in again.stdout
    assert incident(bot, 2)["group_key"] != incident(bot, 1)["group_key"]

    ended = opsbot("demo", "--resolve", "--url", bot.url, env=env, home=tmp_path)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.splitlines() == ["incident #1 resolved", "incident #2 resolved"]
    for n in (1, 2):
        assert incident(bot, n)["status"] == "resolved"
        assert {a["status"] for a in incident(bot, n)["alerts"]} == {"resolved"}

    # Followed again on the same database: a new incident, not a duplicate.
    third = opsbot("demo", "--url", bot.url, env=env, home=tmp_path)
    assert "incident #3 opened" in third.stdout
    nothing = opsbot("demo", "--resolve", "--url", bot.url, env=env, home=tmp_path)
    assert nothing.stdout.strip() == "incident #3 resolved"
    assert opsbot("demo", "--resolve", "--url", bot.url, env=env, home=tmp_path).stdout == (
        "no open demo incident\n"
    )


def test_without_an_api_token_the_alert_is_still_sent(
    served: tuple[BotProcess, dict[str, str]], tmp_path: Path
) -> None:
    bot, env = served
    result = opsbot("demo", "--url", bot.url, env={**env, "OPSBOT_API_TOKEN": ""}, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "deploy event skipped: set OPSBOT_API_TOKEN" in result.stdout
    assert "incident #1 opened" in result.stdout


def test_a_wrong_token_is_one_line(
    served: tuple[BotProcess, dict[str, str]], tmp_path: Path
) -> None:
    bot, env = served
    result = opsbot(
        "demo", "--url", bot.url, env={**env, "OPSBOT_API_TOKEN": "nope"}, home=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "opsbot: /api/v1/deployments: opsbot refused the token (401); use the server's value"
    )


def test_no_server_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = opsbot("demo", "--url", url, env=TOKENS, home=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"opsbot: no opsbot answers at {url}")
