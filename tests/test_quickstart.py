"""The README's first five minutes, followed in order on one database, as a newcomer would."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.fleet import wait_for
from tests.support.server import ROOT, BotProcess, run_cli

README = (ROOT / "README.md").read_text()
QUICK_START = README[README.index("## Run it") : README.index("## Test it")]


def commands(verb: str) -> list[dict[str, str]]:
    """The environment of each ``… uv run opsbot <verb>`` line of the quick start, in order."""
    found = re.findall(rf"^((?:[A-Z_]+=\S+ )+)uv run opsbot {verb}$", QUICK_START, re.M)
    return [dict(pair.split("=", 1) for pair in line.split()) for line in found]


def wait_in_logs(bot: BotProcess, text: str) -> str:
    wait_for(lambda: text in bot.logs(), 20, f"{text!r} in the console")
    return bot.logs()


def demo(env: dict[str, str], bot: BotProcess, home: Path) -> str:
    result = run_cli("demo", "--url", bot.url, env=env, home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_quick_start_in_order_on_one_database(tmp_path: Path) -> None:
    serves, demos = commands("serve"), commands("demo")
    assert len(serves) == 2, "README: the plain run command, then the one with the catalog"
    assert len(demos) == 2, "README: a demo after each"
    database = {"OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/opsbot.db"}

    # 1. serve with embedded defaults, send the example: a thread in the console.
    with BotProcess({**serves[0], **database}, log_path=tmp_path / "first.log") as bot:
        said = demo(demos[0], bot, tmp_path)
        assert "incident #1 opened" in said
        logs = wait_in_logs(bot, "PaymentsIncident")
    assert "[console] new thread" in logs
    assert "#1 Payments incident on payments" in logs
    assert "PaymentsIncident" in logs  # the alert listed in the thread

    # 2. Same database, now with the catalog and an API token: the deploy is the likely cause,
    # although incident #1 from step 1 is still open.
    with BotProcess({**serves[1], **database}, log_path=tmp_path / "second.log") as bot:
        said = demo(demos[1], bot, tmp_path)
        assert "deploy event stored" in said
        assert "incident #2 opened" in said
        expected = "Likely cause: model payments-risk-model 1.4.2 deployed 6 min before the alert"
        wait_in_logs(bot, expected)  # on the root first, with the offer; the reply follows
        logs = wait_in_logs(bot, "Suspects")
    assert expected in logs, logs[-3000:]
