"""The README's first five minutes: serve with embedded defaults, post the example, see it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.support.server import ROOT, BotProcess

README = (ROOT / "README.md").read_text()


def test_readme_run_command_and_curl_line_show_an_incident_in_the_console(tmp_path: Path) -> None:
    token = re.search(r"OPSBOT_ALERTMANAGER_TOKEN=(\S+) uv run opsbot serve", README)
    assert token, "README must show the run command with its dev token"
    curl = re.search(r"curl .*--data @(examples/\S+\.json) .*(/webhooks/alertmanager)", README)
    assert curl, "README must show the curl line posting the shipped example"
    env = {
        "OPSBOT_ALERTMANAGER_TOKEN": token.group(1),
        "OPSBOT_DATABASE_URL": f"sqlite:///{tmp_path}/opsbot.db",
    }
    with BotProcess(env, log_path=tmp_path / "serve.log") as bot:
        body = (ROOT / curl.group(1)).read_bytes()
        response = httpx.post(
            f"{bot.url}/webhooks/alertmanager",
            content=body,
            headers={
                "Authorization": f"Bearer {token.group(1)}",
                "Content-Type": "application/json",
            },
        )
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 15
        # The root, then the alert listed in its thread (a moment later, from the outbox).
        while "PaymentsIncident" not in bot.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        logs = bot.logs()
    assert "[console] new thread" in logs
    assert "#1 Payments incident on payments" in logs
    assert "PaymentsIncident" in logs  # the alert listed in the thread


def test_readme_enrichment_walkthrough_names_the_deploy_as_the_likely_cause(
    tmp_path: Path,
) -> None:
    serve = re.search(
        r"^(OPSBOT_ALERTMANAGER_TOKEN=\S+ OPSBOT_API_TOKEN=.*) uv run opsbot serve$", README, re.M
    )
    assert serve, "README must show the run command with the example catalog"
    env = dict(pair.split("=", 1) for pair in serve.group(1).split())
    deploy = re.search(r"curl .*--data @(examples/\S+\.json) .*(/api/v1/deployments)", README)
    alert = re.search(r"curl .*--data @(examples/\S+\.json) .*(/webhooks/alertmanager)", README)
    assert deploy
    assert alert
    env["OPSBOT_DATABASE_URL"] = f"sqlite:///{tmp_path}/opsbot.db"
    with BotProcess(env, log_path=tmp_path / "serve.log") as bot:
        for match, token in (
            (deploy, env["OPSBOT_API_TOKEN"]),
            (alert, env["OPSBOT_ALERTMANAGER_TOKEN"]),
        ):
            response = httpx.post(
                f"{bot.url}{match.group(2)}",
                content=(ROOT / match.group(1)).read_bytes(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert response.status_code in (200, 201), response.text
        expected = "Likely cause: model payments-risk-model 1.4.2 deployed 6 min before the alert"
        deadline = time.monotonic() + 15
        while expected not in bot.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        logs = bot.logs()
    assert expected in logs, logs[-3000:]
    assert "Suspects" in logs
